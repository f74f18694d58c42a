"""``evsectl bench``'s OCPP figures (issue 13), measured on the 32-bit
MicroPython unix port with the app in ROM, as a board runs it, against a
real central system: the ``ocpp`` package over ``websockets``
(tests/ocpp/central_system.py in the source tree, run in its own process;
``pip install -e .[test]`` brings both), on loopback, in real time.

    ocpp_heap_bytes_32        heap in use with OCPP connected, a transaction
                              running (its meter values sampled every second)
                              and both meters polled on the RS485 bus
    ocpp_fits_heap_budget_32  the same charger run within design.md's budget
                              for "everything on" (80 KiB on 32-bit): it
                              connects, charges, samples, both meters read,
                              every endpoint answers, no MemoryError
    min_heapsize_kib_ocpp_32  the smallest heap (KiB) in which it does all that
                              (tests/test_heap_everything_on.py holds the line)
    ocpp_flash_bytes_per_sample       bytes the firmware wrote to its files
                              (the journal, ocpp.jnl, and the open transaction's
                              register, ocpp.tx) for one MeterValues sample,
                              its confirmation included
    ocpp_flash_bytes_per_transaction  the same for a transaction's Start and Stop
                              (sampling off), their confirmations included
    ocpp_flash_bytes_per_hour one hour of charging at the default
                              MeterValueSampleInterval (10 s), one transaction:
                              3600 / 10 samples and one Start and Stop
    ocpp_flash_other_bytes    what else the firmware wrote to flash during
                              those runs (0: OCPP writes nothing but these;
                              the log's warnings, app.log, not counted)
    ocpp_journal_drain_ms     from the reconnect (the central system sees the
                              WebSocket open) until the last record queued
                              offline reached it (the journal is then empty)
    ocpp_journal_drain_records  how many records were queued: ~10 s of
                              sampling every second offline, then the Stop
    ocpp_smart_heap_bytes_32  heap in use above ocpp_heap_bytes_32 with the most
                              charging profiles the charger takes installed
                              (MaxChargingProfilesInstalled, each of
                              ChargingScheduleMaxPeriods periods) and their
                              composite applied, in the same transaction
    ocpp_smart_flash_bytes    the size of those profiles on flash (ocpp.prof)

The bytes written are counted by ``strace`` attached to the firmware
process: every write(2) to a file in the simulated flash, by file name. That
is what the firmware asks its filesystem to store; on a board LittleFS turns
each synced append into most of a 4 KiB block programmed (docs/ocpp.md and
tests/ocpp/store_figures.py measure that step). Without strace the flash
figures are None. Sampling runs every second here: a sample costs the same
bytes whatever the interval, and the hour is scaled from it.
"""

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time

from evsectl import paths, romheap
from evsectl.errors import UserError

DEFAULT_SAMPLE_INTERVAL_S = 10  # MeterValueSampleInterval's default (firmware/ocpp/config.py)
BUDGET_HEAPSIZE_32 = "80k"  # design.md: everything on, 32-bit, app in ROM
FLASH_SAMPLES = 8  # samples traced for the per-sample figure
OFFLINE_S = 10  # charging offline before the reconnect, a sample a second
SMART_PROFILES = 8  # MaxChargingProfilesInstalled (firmware/ocpp/smartcharging.py)
SMART_PERIODS = 24  # ChargingScheduleMaxPeriods

# The charger's OCPP keys as stored (ocpp.json): sample every second, and
# reconnect within a second (no growing backoff) once the central system is back.
OCPP_KEYS = {"MeterValueSampleInterval": 1, "RetryBackoffWaitMinimum": 1, "RetryBackoffRandomRange": 0,
             "RetryRepeatTimes": 0}


def central_system_script():
    return paths.source_tree() / "tests" / "ocpp" / "central_system.py"


class CentralSystem:
    """tests/ocpp/central_system.py in its own process; ``events``: what it
    printed, each with the time (time.monotonic()) it arrived."""

    def __init__(self, port):
        self.port = port
        script = central_system_script()
        # Without the firmware on the path: ``ocpp`` is the package from PyPI.
        env = dict(os.environ, PYTHONPATH="")
        self.proc = subprocess.Popen([sys.executable, str(script), str(port), "{}"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                     cwd=str(script.parent))
        self.events = []
        self._new = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        try:
            self.wait(lambda e: "listening" in e, 20)
        except AssertionError:
            self.stop()
            raise UserError("the OCPP central system did not start (%s): it needs the ocpp and websockets "
                            "packages, pip install -e .[test]" % self.proc.stderr.read().strip()[-300:])

    def _pump(self):
        for line in self.proc.stdout:
            e = json.loads(line)
            e["at"] = time.monotonic()
            self.events.append(e)
            self._new.put(e)

    def wait(self, match, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                e = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("central system: nothing matching in %d s" % timeout)
            if match(e):
                return e

    def got(self, action, timeout=30):
        return self.wait(lambda e: e.get("got") == action, timeout)

    def count(self, action):
        return sum(1 for e in list(self.events) if e.get("got") == action)

    def call(self, action, payload, timeout=30):
        self.proc.stdin.write(json.dumps({"call": action, "payload": payload, "ref": action}) + "\n")
        self.proc.stdin.flush()
        e = self.wait(lambda e: "result" in e and e.get("ref") == action, timeout)
        if e["result"] is None:
            raise AssertionError("%s: %s" % (action, e.get("error")))
        return e["result"]

    def stop(self):
        self.proc.kill()
        self.proc.wait()

    def restart(self):
        """Back on the same port, remembering nothing of before (events too)."""
        self.stop()
        self.__init__(self.port)


class FileWrites:
    """strace attached to a process: the bytes it writes to each file under
    ``root`` (write, pwrite, writev), counted by file name, while attached."""

    def __init__(self, pid, root, out_path):
        self.root = str(root)
        self.out_path = out_path
        self.proc = subprocess.Popen(["strace", "-f", "-y", "-s", "0", "-e",
                                      "trace=write,pwrite64,writev,pwritev", "-o", out_path, "-p", str(pid)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # strace says "Process N attached" on stderr once it traces.
        line = self.proc.stderr.readline()
        if "attached" not in line:
            self.proc.kill()
            self.proc.wait()
            raise OSError("strace could not attach: %s" % line.strip())

    def stop(self):
        """{file name: [bytes of each write]} while it was attached."""
        self.proc.terminate()  # detaches, writing out what it saw
        self.proc.wait(10)
        writes = {}
        pattern = re.compile(r"\w+\(\d+<([^>]*)>.*\)\s+=\s+(\d+)")
        with open(self.out_path) as f:
            for line in f:
                m = pattern.search(line)
                if m and m.group(1).startswith(self.root + "/"):
                    writes.setdefault(os.path.basename(m.group(1)), []).append(int(m.group(2)))
        return writes


def _ocpp_bytes(writes):
    """(bytes to OCPP's files, bytes to any other). The log's warnings and
    errors (app.log, for GetDiagnostics) are not counted: a link taken down
    on purpose here logs some, as it would anywhere."""
    ours = sum(sum(sizes) for name, sizes in writes.items() if name.startswith("ocpp."))
    return ours, sum(sum(sizes) for name, sizes in writes.items()
                     if not name.startswith("ocpp.") and not name.startswith("app.log"))


def _charger(workdir, bus_port, cs_port, micropython32, heapsize, name, frozen=False):
    from evsectl.bench import _Sim

    config = {"OcppEndpoint": "ws://127.0.0.1:%d/ocpp" % cs_port, "OcppBoxId": "BENCH1", "OcppSecurityProfile": 0}
    s = _Sim(workdir, heapsize=heapsize, bus_port=bus_port, micropython=micropython32, virtual_time=False,
             config=config, files={"ocpp.json": OCPP_KEYS}, name=name, frozen=frozen)
    # What it prints from now on: read, so that its pipe never fills.
    s.output = []
    threading.Thread(target=lambda: s.output.extend(s.proc.stdout), daemon=True).start()
    return s


def _meters_valid(s, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ok = True
            for n in (1, 2):
                status, answer = s.request("GET", "/webapi/v1/Meter%d" % n, answer=True)
                ok = ok and status == 200 and \
                    answer["Meter%d" % n]["ModbusData"]["0x04_0x0034"]["DataStatus"] == "Valid"
            if ok:
                return True
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    return False


def _in_transaction(s, cs):
    """Connected, a vehicle charging, its samples reaching the central system,
    both meters read: True when all of that happened."""
    try:
        cs.got("StatusNotification", 40)  # booted and reporting
        s.request("POST", "/sim/v1/Vehicle", {"State": "C"})
        cs.got("StartTransaction")
        cs.got("MeterValues")
        cs.got("MeterValues")
    except AssertionError:
        return False
    return _meters_valid(s)


def _heap_in_use(s, heap_kib):
    time.sleep(1.5)  # the housekeeping task collects garbage once a second
    heap = s.request("GET", "/webapi/v1/SystemInfo", answer=True)[1]["HeapInfo"]
    return heap_kib * 1024 - int(heap.split("/")[1], 16)


def serves_everything(s, cs):
    """Every WebAPI endpoint answers whole (the simulator's Vehicle and Time
    aside: the vehicle charges, and time is real), the transaction still
    samples, and the firmware printed no MemoryError."""
    from evsectl.bench import ENDPOINTS_GET, ENDPOINTS_POST

    ok = all(s.request("GET", "/webapi/v1/" + name, answer=True)[0] == 200 for name in ENDPOINTS_GET)
    posts = [(path, body) for path, body in ENDPOINTS_POST if path not in ("/sim/v1/Vehicle", "/sim/v1/Time")]
    ok = ok and all(s.request("POST", path, body, answer=True)[0] == 200 for path, body in posts)
    cs.got("MeterValues")  # still sampling after all that
    return ok and s.proc.poll() is None and not any("MemoryError" in line for line in s.output)


def fits(workdir, bus_port, micropython32, heapsize=BUDGET_HEAPSIZE_32, frozen=False):
    """The charger, OCPP in a transaction and both meters, within ``heapsize``
    on 32-bit (``frozen``: the app frozen into ``micropython32``)."""
    from evsectl.bench import _free_port

    cs = CentralSystem(_free_port())
    s = _charger(workdir, bus_port, cs.port, micropython32, heapsize, "ocpp-" + heapsize, frozen)
    try:
        return bool(s.boot_line) and _in_transaction(s, cs) and serves_everything(s, cs)
    except (OSError, ValueError, AssertionError):
        return False
    finally:
        s.close()
        cs.stop()


def fits_budget(workdir, bus_port, micropython32):
    return fits(workdir, bus_port, micropython32, BUDGET_HEAPSIZE_32)


def min_heapsize_kib(workdir, bus_port, micropython32, low=64, high=160, frozen=False):
    """Bisect the smallest heap (KiB) that ``fits``; None if even ``high`` does not."""
    return romheap.least_kib(lambda kib: fits(workdir, bus_port, micropython32, "%dk" % kib, frozen), low, high)


def measure(workdir, bus_port, micropython32, least=True):
    """The OCPP figures (see the module's docstring); ``bus_port``: the
    simulated RS485 bus with meters at units 1 and 2 (bench._bus). Without
    ``least``, no min_heapsize_kib_ocpp_32 (a bisection: minutes; the tests
    hold the budget with test_heap_everything_on instead)."""
    from evsectl.bench import _free_port

    figures = {}
    heap_kib = 256
    cs = CentralSystem(_free_port())
    s = _charger(workdir, bus_port, cs.port, str(micropython32), "%dk" % heap_kib, "ocpp")
    try:
        if not (s.boot_line and _in_transaction(s, cs)):
            raise UserError("the OCPP bench charger did not charge; it printed:\n" + "".join(s.output[-30:]))
        figures["ocpp_heap_bytes_32"] = _heap_in_use(s, heap_kib)
        figures.update(_smart(s, cs, heap_kib))
        cs.call("ClearChargingProfile", {})
        figures.update(_flash(workdir, s, cs))
        figures.update(_drain(s, cs))
    finally:
        s.close()
        cs.stop()
    figures["ocpp_fits_heap_budget_32"] = fits_budget(workdir, bus_port, str(micropython32))
    if least:
        figures["min_heapsize_kib_ocpp_32"] = min_heapsize_kib(workdir, bus_port, str(micropython32))
    return figures


def install_profiles(cs):
    """The most charging profiles the charger takes, each with the most
    periods, every limit above what the vehicle draws: half
    ChargePointMaxProfile (in W), half TxDefaultProfile (in A)."""
    from datetime import datetime, timezone

    start = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    for n in range(SMART_PROFILES):
        cp_max = n % 2 == 0
        periods = [{"startPeriod": i * 900, "limit": (40 + i) * (690 if cp_max else 1)} for i in range(SMART_PERIODS)]
        profile = {"chargingProfileId": n + 1, "stackLevel": n // 2,
                   "chargingProfilePurpose": "ChargePointMaxProfile" if cp_max else "TxDefaultProfile",
                   "chargingProfileKind": "Absolute",
                   "chargingSchedule": {"chargingRateUnit": "W" if cp_max else "A", "startSchedule": start,
                                        "chargingSchedulePeriod": periods}}
        status = cs.call("SetChargingProfile", {"connectorId": 0 if cp_max else 1, "csChargingProfiles": profile})
        if status.get("status") != "Accepted":
            raise UserError("the OCPP bench charger refused charging profile %d: %s" % (n + 1, status))


def _settled_in_use(s, heap_kib, samples=12):
    """Heap in use with the garbage collected: the least of readings a
    quarter second apart (the housekeeping task collects once a second; a
    single reading has up to a second of garbage in it)."""
    least = None
    for _ in range(samples):
        heap = s.request("GET", "/webapi/v1/SystemInfo", answer=True)[1]["HeapInfo"]
        used = heap_kib * 1024 - int(heap.split("/")[1], 16)
        least = used if least is None else min(least, used)
        time.sleep(0.25)
    return least


def _smart(s, cs, heap_kib):
    before = _settled_in_use(s, heap_kib)
    install_profiles(cs)
    cs.call("GetCompositeSchedule", {"connectorId": 1, "duration": 86400})
    return {"ocpp_smart_heap_bytes_32": _settled_in_use(s, heap_kib) - before,
            "ocpp_smart_flash_bytes": os.path.getsize(os.path.join(s.device_dir, "ocpp.prof"))}


def _flash(workdir, s, cs):
    """Bytes written to flash per sample and per transaction, strace counting."""
    none = dict.fromkeys(("ocpp_flash_bytes_per_sample", "ocpp_flash_bytes_per_transaction",
                          "ocpp_flash_bytes_per_hour", "ocpp_flash_other_bytes"))
    if shutil.which("strace") is None:
        return none
    root = os.path.realpath(s.device_dir)
    trace = os.path.join(workdir, "ocpp-writes.strace")
    # Samples: the transaction runs; each sample rewrites ocpp.tx once.
    try:
        w = FileWrites(s.proc.pid, root, trace)
    except OSError:
        return none  # ptrace not allowed here
    seen = cs.count("MeterValues")
    while cs.count("MeterValues") < seen + FLASH_SAMPLES + 1:
        cs.got("MeterValues")
    writes = w.stop()
    samples = len(writes.get("ocpp.tx.tmp", ()))
    if not samples:  # the trace saw no file writes: not a figure
        return none
    per_sample, other = _ocpp_bytes(writes)
    per_sample = per_sample / samples
    # A transaction with sampling off: its Start and its Stop, each confirmed.
    cs.call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "0"})
    s.request("POST", "/sim/v1/Vehicle", {"State": "A"})
    cs.got("StopTransaction")
    time.sleep(1)  # the Stop's confirmation written
    w = FileWrites(s.proc.pid, root, trace)
    s.request("POST", "/sim/v1/Vehicle", {"State": "C"})
    cs.got("StartTransaction")
    s.request("POST", "/sim/v1/Vehicle", {"State": "A"})
    cs.got("StopTransaction")
    time.sleep(1)
    writes = w.stop()
    per_tx, other_tx = _ocpp_bytes(writes)
    return {
        "ocpp_flash_bytes_per_sample": round(per_sample),
        "ocpp_flash_bytes_per_transaction": per_tx,
        "ocpp_flash_bytes_per_hour": round(per_sample * 3600 / DEFAULT_SAMPLE_INTERVAL_S + per_tx),
        "ocpp_flash_other_bytes": other + other_tx,
    }


def _drain(s, cs):
    """Charge offline for OFFLINE_S s (a sample a second), unplug, bring the
    central system back on its port: the time until the last record reached it."""
    cs.call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "1"})
    s.request("POST", "/sim/v1/Vehicle", {"State": "C"})
    cs.got("StartTransaction")
    cs.got("MeterValues")
    cs.stop()
    time.sleep(OFFLINE_S)
    s.request("POST", "/sim/v1/Vehicle", {"State": "A"})  # the Stop, queued last
    time.sleep(1)
    cs.restart()
    opened = cs.wait(lambda e: "connected" in e, 30)
    stop = cs.got("StopTransaction")
    records = sum(1 for e in cs.events if e.get("got") in ("StartTransaction", "StopTransaction", "MeterValues"))
    return {"ocpp_journal_drain_ms": round((stop["at"] - opened["at"]) * 1000),
            "ocpp_journal_drain_records": records}
