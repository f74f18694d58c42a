"""``evsectl bench``'s WebAPI figures (issue 19): the web server under load
at the budget heap, and what an answer costs against the bare framework.

    web_load                 8 clients for 60 s mixing every GET and valid POST,
                             the firmware in real time at the budget heap, the app
                             in ROM, a vehicle charging 4 s and pausing 3 s, over
                             and over: requests_per_s, p50_ms, p99_ms,
                             answers_503, answers_429, bad_answers (neither whole and correct
                             nor a clean 503), relay_open_ms_max (the worst time
                             from C to B until the contactor opened), relay_opens
    web_load_32              the same on the 32-bit MicroPython at its budget heap
    webapi_cost_ratio        per GET endpoint, the CPU a request costs the firmware
                             against a bare microdot app serving the same bytes on
                             the same interpreter, measured side by side
    settings_write_ms_max    the longest a settings write (SystemConfig POST:
                             check, write config.json.tmp, rename it over
                             config.json) held the event loop, so delayed the
                             control tick, on this machine's disk

The interpreter is ``EVSECTL_MICROPYTHON`` when set, else the MicroPython
unix port evsectl ships with.
"""

import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import microdot

from evsectl import sim

# The heap the load is measured at, the app in ROM: the budget the firmware
# boots and serves in (tests/test_heap_budget.py: 137 KiB on the 64-bit unix
# port, 80 KiB on the 32-bit one, whose objects are a board's size) and a
# margin of 10 KiB (on 32-bit too) for four connections at once, their requests
# and answers.
BUDGET_HEAP = "147k"
BUDGET_HEAP_32 = "90k"

API = "/webapi/v1/"
GETS = (API + "Status", API + "Meter1", API + "Meter2", API + "SystemConfig", API + "SystemInfo", "/sim/v1/Board")
# What a whole answer of each holds (a sample of its keys).
KEYS = {
    API + "Status": "EvseState",
    API + "Meter1": "Meter1",
    API + "Meter2": "Meter2",
    API + "SystemConfig": "ChargeCurrent",
    API + "SystemInfo": "HeapInfo",
    "/sim/v1/Board": "RelayClosed",
}
ENV = "EVSECTL_MICROPYTHON"
# A client answered 503 asks again this much later: sooner than the second
# its Retry-After says, to keep the pressure on.
BUSY_PAUSE_S = 0.05


def interpreter():
    """The MicroPython unix binary to measure on."""
    return os.environ.get(ENV) or sim.micropython_exe()


def _posts(rnd):
    """A valid POST, picked at random: (path, body, a key of its answer)."""
    return rnd.choice((
        (API + "SystemConfig", {"ChargeCurrent": rnd.randint(6, 32)}, "ChargeCurrent"),
        (API + "EvseCtrl", {"EVSEPowerAvailable": rnd.randint(0, 20000)}, "ActualPowerAvailable"),
        (API + "SystemInfo", {"UpdateCheckToggle": True}, "UpdateCheckToggle"),
        ("/sim/v1/Faults", {"OverTemp": False}, "OverTemp"),
    ))


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sim(device_dir, heapsize=BUDGET_HEAP, rom=True, log=None, micropython=None):
    """``evsectl sim`` in real time, the app in ROM, at ``heapsize``, on the
    MicroPython binary ``micropython`` (None: $EVSECTL_MICROPYTHON or the
    default port): (process, port)."""
    port = free_port()
    cmd = [sys.executable, "-m", "evsectl", "sim", "--port", str(port), "--device-dir", str(device_dir)]
    if heapsize:
        cmd += ["--heapsize", heapsize]
    if rom:
        cmd.append("--romfs")
    micropython = micropython or os.environ.get(ENV)
    if micropython:
        cmd += ["--micropython", micropython]
    proc = subprocess.Popen(cmd, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            if request(port, "GET", API + "Status")[0] == 200:
                return proc, port
        except (OSError, http.client.HTTPException):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the simulator did not start")
        time.sleep(0.1)


def request(port, method, path, body=None):
    """(status, its Retry-After, body bytes); raises on an answer cut short."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                     headers={"Content-Type": "application/json"} if body is not None else {})
        r = conn.getresponse()
        return r.status, r.getheader("Retry-After"), r.read()
    finally:
        conn.close()


def _check(status, retry_after, data, key):
    """None if the answer is whole and correct, or a clean 503 (busy) or 429
    (settings written too often, app.webapi.WriteBudget); else what is wrong."""
    try:
        answer = json.loads(data)
    except ValueError:
        return "not JSON: %r" % data[:80]
    if status in (503, 429):
        return None if retry_after and "Errors" in answer else "%d without Retry-After or Errors" % status
    if status != 200 or key not in answer:
        return "%d %r" % (status, data[:120])
    return None


# The vehicle's charge during the load: on for C_S, off for B_S. One close
# every 7 s stays within the kernel's contactor-wear budget (one close per
# 6 s, evse.kernel); a vehicle cycling faster is stopped with a fault, by
# design, and would leave no openings to time.
C_S = 4
B_S = 3


def load(port, seconds=60, clients=8, seed=19):
    """``clients`` threads mixing every GET and a valid POST for ``seconds``,
    and a vehicle stopping and starting its charge (C_S in C, B_S in B). The
    figures, and ``problems``: every answer that was neither whole and
    correct nor a clean 503."""
    end = time.monotonic() + seconds
    latencies = []
    problems = []
    busy = [0]
    opens = [0]
    refused = [0]
    lock = threading.Lock()

    def client(n):
        rnd = random.Random(seed * 100 + n)
        while time.monotonic() < end:
            if rnd.random() < 0.25:
                path, body, key = _posts(rnd)
                method = "POST"
            else:
                path = rnd.choice(GETS)
                body, key, method = None, KEYS[path], "GET"
            t = time.monotonic()
            try:
                status, retry, data = request(port, method, path, body)
                wrong = _check(status, retry, data, key)
            except (OSError, http.client.HTTPException) as e:
                status, wrong = None, "%s %s: %r" % (method, path, e)
            took = time.monotonic() - t
            with lock:
                latencies.append(took)
                if status == 503:
                    busy[0] += 1
                elif status == 429:
                    refused[0] += 1
                if wrong:
                    problems.append("%s %s: %s" % (method, path, wrong))
            if status in (503, 429):
                time.sleep(BUSY_PAUSE_S)

    def vehicle():
        """C, then B, and so on; a 503 is asked again. Counts the changes to
        B made with the contactor closed: the openings RelayOpenMs times."""
        state = "C"
        while time.monotonic() < end:
            try:
                if state == "B" and json.loads(request(port, "GET", "/sim/v1/Board")[2]).get("RelayClosed"):
                    opens[0] += 1
                if request(port, "POST", "/sim/v1/Vehicle", {"State": state})[0] != 200:
                    time.sleep(0.01)
                    continue
            except (OSError, http.client.HTTPException):
                time.sleep(0.01)
                continue
            time.sleep(C_S if state == "C" else B_S)
            state = "B" if state == "C" else "C"

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    threads.append(threading.Thread(target=vehicle))
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    latencies.sort()
    n = len(latencies)
    return {
        "requests_per_s": round(n / elapsed, 1),
        "p50_ms": round(latencies[n // 2] * 1000, 1) if n else None,
        "p99_ms": round(latencies[int(n * 0.99)] * 1000, 1) if n else None,
        "answers_503": busy[0],
        "answers_429": refused[0],
        "bad_answers": len(problems),
        "problems": problems[:20],
        "relay_opens": opens[0],
    }


def web_load(workdir, seconds=60, clients=8, heapsize=BUDGET_HEAP, micropython=None):
    """The load figures, with the relay's worst opening time during the load."""
    proc, port = start_sim(Path(workdir) / "load", heapsize, micropython=micropython)
    try:
        figures = load(port, seconds, clients)
        figures["relay_open_ms_max"] = json.loads(request(port, "GET", "/sim/v1/Board")[2])["RelayOpenMs"]
        return figures
    finally:
        proc.terminate()
        proc.wait()


# -- cost against the bare framework --------------------------------------------

BARE = """
import sys
sys.path[:0] = [%r]
import asyncio
from microdot import Microdot

BODIES = %r
app = Microdot()


@app.route("/webapi/v1/<name>")
async def serve(req, name):
    return BODIES[name], 200, {"Content-Type": "application/json; charset=UTF-8"}


asyncio.run(app.start_server(host="127.0.0.1", port=%d))
"""


# A heap like an ESP32's free heap, for both: a collection sweeps the whole
# heap, so the unix port's default (megabytes) would make each cost more
# than on a board.
COST_HEAP = "256k"


def _cpu_s(pid):
    """User and system CPU seconds process ``pid`` has used."""
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_per_request(pid, port, path, requests):
    before = _cpu_s(pid)
    for _ in range(requests):
        status, _, _ = request(port, "GET", path)
        assert status == 200, (path, status)
    return (_cpu_s(pid) - before) / requests


def webapi_cost_ratio(workdir, requests=400, heapsize=COST_HEAP):
    """Per GET endpoint: the firmware's CPU per request over a bare microdot
    app's serving the same bytes, both on ``interpreter()`` with a heap of
    ``heapsize``, one client, measured alternately so that the machine's
    load weighs on both alike."""
    names = ("Status", "Meter1", "Meter2", "SystemConfig", "SystemInfo")
    dev = sim.prepare(Path(workdir) / "cost", "sim", free_port(), True, precompile=True)
    port = json.loads((dev / "sim.json").read_text())["port"]
    exe = [interpreter(), "-X", "heapsize=" + heapsize]
    firmware = subprocess.Popen(exe + ["-c", sim._START], cwd=dev, stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT)
    bare = None
    try:
        _wait(port, firmware)
        bodies = {name: request(port, "GET", API + name)[2] for name in names}
        bare_port = free_port()
        script = Path(workdir) / "bare.py"
        script.write_text(BARE % (str(Path(microdot.__file__).parents[1]), bodies, bare_port))
        bare = subprocess.Popen(exe + [str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        _wait(bare_port, bare)
        ratios = {}
        for name in names:
            ours = theirs = 0.0
            for _ in range(2):  # alternately, twice
                ours += _cpu_per_request(firmware.pid, port, API + name, requests // 2)
                theirs += _cpu_per_request(bare.pid, bare_port, API + name, requests // 2)
            ratios[name] = round(ours / theirs, 2) if theirs else None
        return ratios
    finally:
        for p in (firmware, bare):
            if p is not None:
                p.kill()
                p.wait()


def _wait(port, proc):
    deadline = time.monotonic() + 30
    while True:
        try:
            request(port, "GET", API + "Status")
            return
        except (OSError, http.client.HTTPException):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)


SETTINGS_WRITES = """
import sys, time
sys.path[:0] = [%r]
from app.config import ConfigStore
store = ConfigStore("config.json")
worst = 0
for i in range(%d):
    t = time.ticks_us()
    errors = store.update({"ChargeCurrent": 6 + i %% 20, "DeviceName": "Charger %%d" %% i})
    worst = max(worst, time.ticks_diff(time.ticks_us(), t))
    assert not errors, errors
print(worst / 1000)
"""


def settings_write_ms_max(workdir, writes=200):
    """The longest one settings write (what POST SystemConfig does: check,
    write config.json.tmp, rename it over config.json) held the event loop
    on ``interpreter()``, the firmware's files on this machine's disk."""
    d = Path(workdir) / "settings"
    d.mkdir(exist_ok=True)
    firmware = Path(sim.__file__).resolve().parents[2] / "firmware"
    script = d / "writes.py"
    script.write_text(SETTINGS_WRITES % (str(firmware), writes))
    out = subprocess.run([interpreter(), str(script)], cwd=d, capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def measure(workdir, micropython32):
    return {
        "web_load": web_load(workdir),
        "web_load_32": web_load(workdir, heapsize=BUDGET_HEAP_32, micropython=micropython32),
        "webapi_cost_ratio": webapi_cost_ratio(workdir),
        "settings_write_ms_max": settings_write_ms_max(workdir),
    }
