"""``evsectl bench``'s cFos figures (issue 16), on the 32-bit MicroPython
unix port with the app in ROM, as a board runs it, in real time, both
meters polled on the simulated RS485 bus and a vehicle charging:

    cfos_heap_bytes_32        heap in use (the least of six samples, a second
                              apart) with both cFos modes on: a Modbus
                              client (pymodbus) reading the status and
                              writing the limit twice a second on port
                              CfosModbusPort, and the HTTP input reporting to
                              a loopback Charging Manager every 3 s
    cfos_off_heap_bytes_32    the same charger with cFos off (the same
                              meters, vehicle and WebAPI traffic)
    cfos_heap_cost_bytes_32   the difference: what cFos costs a board
    cfos_boot_heap_cost_bytes_32  what booting with both modes on takes beyond
                              booting with cFos off (imports, the register
                              maps, the tasks, the /cnf route): the boot line's
                              figures, no meters
    min_heapsize_kib_cfos_32  the least -X heapsize (KiB) at which the charger, no
                              meters, boots, serves every endpoint, charges,
                              and both modes work (the manager's limit reaches
                              the offer) and go on working; no MemoryError
    min_heapsize_kib_cfos_modbus_32, min_heapsize_kib_cfos_http_32
                              the same with one mode on
    min_heapsize_kib_cfos_off_32  the same with cFos off (its cost: the difference;
                              tests/test_heap_budget.py holds the charger
                              without cFos to 78 KiB)
"""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from evsectl import romheap

ANSWER = {"device_enabled": True, "charging_enabled": True, "paused": False, "charging_current": 12000}


class _Manager(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.reports += 1
        data = json.dumps(ANSWER).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ChargingManager(ThreadingHTTPServer):
    """A cFos Charging Manager's HTTP input, answering 12 A to every report."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Manager)
        self.reports = 0
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self):
        self.shutdown()
        self.server_close()


class ModbusManager:
    """evcc's part: the status read and the limit written, twice a second."""

    def __init__(self, port):
        from pymodbus.client import ModbusTcpClient

        self.client = ModbusTcpClient("127.0.0.1", port=port, timeout=3, retries=0)
        self.polls = 0
        self.errors = 0
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self._stop.wait(0.5):
            try:
                if not self.client.connected and not self.client.connect():
                    continue
                rr = self.client.read_holding_registers(8092, count=3, device_id=1)
                wr = self.client.write_register(8093, 140, device_id=1)
                if rr.isError() or wr.isError():
                    self.errors += 1
                else:
                    self.polls += 1
            except Exception:  # not up yet, or gone
                self.errors += 1

    def stop(self):
        self._stop.set()
        self.client.close()


BOTH = ("modbus", "http")


def _charger(workdir, bus_port, micropython32, heapsize, name, cfos):
    """A charger with the cFos modes ``cfos`` ("modbus", "http": True for
    both, False for none) on, each with its manager."""
    from evsectl.bench import _free_port, _Sim

    cfos = BOTH if cfos is True else cfos or ()
    config = {}
    modbus = http = None
    if "http" in cfos:
        http = ChargingManager()
        config.update({"CfosUrl": "http://127.0.0.1:%d" % http.server_address[1], "CfosDevId": "E1"})
    if "modbus" in cfos:
        config.update({"CfosModbus": True, "CfosModbusPort": _free_port()})
    s = _Sim(workdir, heapsize=heapsize, bus_port=bus_port, micropython=micropython32, virtual_time=False,
             config=config, name=name)
    s.output = []
    threading.Thread(target=lambda: s.output.extend(s.proc.stdout), daemon=True).start()
    if "modbus" in cfos:
        modbus = ModbusManager(config["CfosModbusPort"])
    return s, modbus, http


def _working(s, modbus, http, timeout=20, meters=True):
    """Charging, both meters read, and each cFos mode on heard from."""
    from evsectl.bench_ocpp import _meters_valid

    try:
        s.request("POST", "/sim/v1/Vehicle", {"State": "C"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = s.request("GET", "/webapi/v1/Status", answer=True)[1]
            heard = (modbus is None or modbus.polls >= 4) and (http is None or http.reports >= 2)
            steered = modbus is None and http is None or status["ActualCurrentLimitSource"] == "cFos"
            if status["EvseState"] == 5 and heard and steered:
                return _meters_valid(s) if meters else True
            time.sleep(0.2)
    except (OSError, ValueError, KeyError):
        pass
    return False


def _stop(s, modbus, http):
    if modbus:
        modbus.stop()
    s.close()
    if http:
        http.stop()


def heap_bytes(workdir, bus_port, micropython32, cfos, heap_kib=256, samples=6):
    """Heap in use, the least of ``samples`` a little over a second apart: the
    housekeeping task collects garbage once a second, and what the clients'
    requests leave between two collections is not what the charger keeps."""
    s, modbus, http = _charger(workdir, bus_port, micropython32, "%dk" % heap_kib,
                               "cfos-on" if cfos else "cfos-off", cfos)
    try:
        if not (s.boot_line and _working(s, modbus, http)):
            return None
        least = None
        for _ in range(samples):
            time.sleep(1.1)
            heap = s.request("GET", "/webapi/v1/SystemInfo", answer=True)[1]["HeapInfo"]
            used = heap_kib * 1024 - int(heap.split("/")[1], 16)
            least = used if least is None else min(least, used)
        return least
    finally:
        _stop(s, modbus, http)


def works(workdir, micropython32, heapsize, cfos):
    """The charger at ``heapsize``, no meters, in real time: it boots, charges,
    serves every endpoint (bench.ENDPOINTS_GET, ENDPOINTS_POST), and with
    ``cfos`` both modes work (the manager's limit reaches the offer) and go
    on working after all that; no MemoryError."""
    from evsectl.bench import ENDPOINTS_GET, ENDPOINTS_POST

    name = "cfos-%s-%s" % ("both" if cfos is True else "-".join(cfos or ("off",)), heapsize)
    s, modbus, http = _charger(workdir, None, micropython32, heapsize, name, cfos)
    try:
        ok = bool(s.boot_line) and _working(s, modbus, http, meters=False)
        # Every endpoint, whole (bench.serves_everything but /sim/v1/Time, virtual time's only).
        for path, body in [("/webapi/v1/" + name, None) for name in ENDPOINTS_GET] + \
                [(path, body) for path, body in ENDPOINTS_POST if path != "/sim/v1/Time"]:
            ok = ok and s.request("POST" if body else "GET", path, body, answer=True)[0] == 200
        if ok and modbus:
            ok = s.request("GET", "/cnf?cmd=modbus&device=evse&read=all", answer=True)[0] == 200
        if ok and (modbus or http):  # and they go on working
            polls, reports = modbus.polls if modbus else 0, http.reports if http else 0
            deadline = time.monotonic() + 10
            while ok and not ((not modbus or modbus.polls > polls + 2) and (not http or http.reports > reports + 1)):
                ok = time.monotonic() < deadline
                time.sleep(0.2)
        return ok and s.proc.poll() is None and not any("MemoryError" in line for line in s.output)
    except (OSError, ValueError):
        return False
    finally:
        _stop(s, modbus, http)


def min_heapsize_kib(workdir, micropython32, cfos, low=48, high=160):
    """The least heap (KiB) at which ``works``, bisected."""
    return romheap.least_kib(lambda kib: works(workdir, micropython32, "%dk" % kib, cfos), low, high)


def boot_cost(workdir, micropython32):
    """Heap used after boot with both modes on, less that with cFos off."""
    used = []
    for cfos in (False, True):
        s, modbus, http = _charger(workdir, None, micropython32, "256k", "cfos-boot-%s" % cfos, cfos)
        try:
            match = re.search(r"heap free \d+ used (\d+)", s.boot_line)
            used.append(int(match.group(1)) if match else None)
        finally:
            _stop(s, modbus, http)
    return used[1] - used[0] if None not in used else None


def measure(workdir, bus_port, micropython32):
    """The cFos figures (see the module's docstring); ``bus_port``: the
    simulated RS485 bus with meters at units 1 and 2 (bench._bus)."""
    on = heap_bytes(workdir, bus_port, str(micropython32), True)
    off = heap_bytes(workdir, bus_port, str(micropython32), False)
    return {
        "cfos_heap_bytes_32": on,
        "cfos_off_heap_bytes_32": off,
        "cfos_heap_cost_bytes_32": on - off if on is not None and off is not None else None,
        "cfos_boot_heap_cost_bytes_32": boot_cost(workdir, str(micropython32)),
        "min_heapsize_kib_cfos_32": min_heapsize_kib(workdir, str(micropython32), True),
        "min_heapsize_kib_cfos_modbus_32": min_heapsize_kib(workdir, str(micropython32), ("modbus",)),
        "min_heapsize_kib_cfos_http_32": min_heapsize_kib(workdir, str(micropython32), ("http",)),
        "min_heapsize_kib_cfos_off_32": min_heapsize_kib(workdir, str(micropython32), False),
    }


def main():
    """``python -m evsectl.bench_cfos``: these figures alone, as JSON."""
    from evsectl import bench

    bench.print_figures_alone(measure, "cfos")


if __name__ == "__main__":
    main()
