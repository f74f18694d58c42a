"""``evsectl bench``: speed and memory figures of the firmware.

    tick_alloc_bytes         heap bytes allocated per control tick (MicroPython)
    ticks_per_s_cpython      control ticks per second, kernel + simulated board
    ticks_per_s_micropython  the same under the MicroPython unix port
    boot_heap_bytes          heap in use after boot, precompiled .mpy (MicroPython)
    min_heapsize_kib         smallest -X heapsize at which the simulator boots and
                             serves every endpoint
    sim_10h_session_s        wall seconds for a 10-hour session in virtual time (CPython)

The figures are printed, never asserted: targets are 0 B/tick, booting and
serving within 96 KiB, and 10 h in at most 5 s.
"""

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evsectl import device, sim

ENDPOINTS_GET = ("Status", "Meter1", "Meter2", "SystemConfig", "SystemInfo")
ENDPOINTS_POST = (
    ("/webapi/v1/SystemConfig", {"ChargeCurrent": 12}),
    ("/webapi/v1/EvseCtrl", {"EVSEPowerAvailable": 5000}),
    ("/webapi/v1/SystemInfo", {"UpdateCheckToggle": True}),
    ("/sim/v1/Vehicle", {"State": "C"}),
    ("/sim/v1/Faults", {"OverTemp": False}),
    ("/sim/v1/Time", {"AdvanceMs": 2000}),
)


def _tour(workdir, interpreter):
    dev = device.assemble(Path(workdir) / ("tour-" + interpreter), "sim")
    (dev / "tick_tour.py").write_bytes(Path(__file__).with_name("tick_tour.py").read_bytes())
    exe = sim.micropython_exe() if interpreter == "micropython" else sys.executable
    out = subprocess.run([exe, "tick_tour.py", "--ticks-per-leg", "2000"], cwd=dev, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


class _Sim:
    """A simulator process for one measurement."""

    def __init__(self, workdir, interpreter="micropython", heapsize=None, precompile=True):
        from http.client import HTTPConnection

        self._conn = HTTPConnection
        self.port = _free_port()
        dev = sim.prepare(Path(workdir) / ("dev-%s-%s" % (interpreter, heapsize)), "sim", self.port, True,
                          precompile=precompile)
        self.proc = subprocess.Popen(sim.command(interpreter, heapsize), cwd=dev, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.boot_line = ""
        for line in self.proc.stdout:
            if sim.READY_MARK in line:
                self.boot_line = line
                break
        deadline = time.monotonic() + 10  # the server starts listening just after the boot line
        while self.boot_line and time.monotonic() < deadline:
            try:
                self.request("GET", "/webapi/v1/Status")
                break
            except OSError:
                time.sleep(0.05)

    def request(self, method, path, body=None):
        conn = self._conn("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None)
            r = conn.getresponse()
            r.read()
            return r.status
        finally:
            conn.close()

    def serves_everything(self):
        if not self.boot_line:
            return False
        try:
            ok = all(self.request("GET", "/webapi/v1/" + name) == 200 for name in ENDPOINTS_GET)
            ok = ok and all(self.request("POST", path, body) == 200 for path, body in ENDPOINTS_POST)
            return ok and self.request("GET", "/webapi/v1/Status") == 200 and self.proc.poll() is None
        except OSError:
            return False

    def close(self):
        self.proc.kill()
        self.proc.wait()


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def boot_heap_bytes(workdir):
    s = _Sim(workdir, heapsize="256k")
    try:
        match = re.search(r"heap free \d+ used (\d+)", s.boot_line)
        return int(match.group(1)) if match else None
    finally:
        s.close()


def min_heapsize_kib(workdir, low=16, high=256):
    """Bisect the smallest heap (KiB) at which the firmware boots and serves every endpoint."""

    def works(kib):
        s = _Sim(workdir, heapsize="%dk" % kib)
        try:
            return s.serves_everything()
        finally:
            s.close()

    if not works(high):
        return None
    while high - low > 1:
        mid = (low + high) // 2
        if works(mid):
            high = mid
        else:
            low = mid
    return high


def sim_10h_session_s(workdir):
    s = _Sim(workdir, interpreter="cpython", precompile=False)
    try:
        start = time.perf_counter()
        s.request("POST", "/sim/v1/Vehicle", {"State": "C"})
        for _ in range(10):
            s.request("POST", "/sim/v1/Time", {"AdvanceMs": 3600 * 1000})
        s.request("POST", "/sim/v1/Vehicle", {"State": "A"})
        s.request("POST", "/sim/v1/Time", {"AdvanceMs": 1000})
        return round(time.perf_counter() - start, 3)
    finally:
        s.close()


def measure():
    with tempfile.TemporaryDirectory(prefix="evse-bench-") as workdir:
        mp = _tour(workdir, "micropython")
        cp = _tour(workdir, "cpython")
        return {
            "tick_alloc_bytes": mp["alloc_bytes_per_tick"],
            "ticks_per_s_cpython": cp["ticks_per_s"],
            "ticks_per_s_micropython": mp["ticks_per_s"],
            "boot_heap_bytes": boot_heap_bytes(workdir),
            "min_heapsize_kib": min_heapsize_kib(workdir),
            "sim_10h_session_s": sim_10h_session_s(workdir),
        }


def main(args):
    figures = measure()
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print("%-26s %s" % (key, value))
    return 0
