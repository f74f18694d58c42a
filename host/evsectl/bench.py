"""``evsectl bench``: speed and memory figures of the firmware.

    tick_alloc_bytes         heap bytes allocated per control tick (MicroPython)
    ticks_per_s_cpython      control ticks per second, kernel + simulated board
    ticks_per_s_micropython  the same under the MicroPython unix port
    boot_heap_bytes          heap in use after boot, the app in ROM (MicroPython,
                             as shipped to a board with a romfs partition)
    min_heapsize_kib         smallest -X heapsize at which the simulator boots and
                             serves every endpoint, the app in ROM
    boot_heap_bytes_files    boot_heap_bytes with the app as .mpy files instead
    min_heapsize_kib_files   min_heapsize_kib with the app as .mpy files instead
    sim_10h_session_s        wall seconds for a 10-hour session in virtual time (CPython)
    meters_heap_bytes        heap in use with two meters polled on the RS485 bus (ROM)
    min_heapsize_kib_meters  min_heapsize_kib with those two meters polling
    min_heapsize_kib_meters_files  the same with the app as .mpy files
    meter_models             per model, one full poll cycle over RTU: requests, bytes on
                             the wire (both ways) against the registers' own bytes, and
                             the cycle time at 9600 baud 8N1 those bytes take
    site_limit_utilisation, site_overload_s, site_overload_ws, site_offer_changes
                             load management over a scripted 2 h household (bench_site.py)

Every heap figure and the tick's again with ``_32`` after the key, on the
32-bit MicroPython unix port (../shared/micropython32 beside the source
tree, or ``--micropython32``): 4-byte words and 16-byte GC blocks as on the
ESP32, so these are the figures that stand for a board. (There the ROM
image sits at the bottom of the heap, outside the figures: evsectl.romheap.)
``--micropython`` runs the other figures on a binary of one's own.

    web_load, webapi_cost_ratio, settings_write_ms_max
                             the WebAPI under load and against the bare framework
                             (evsectl.bench_web)
    ocpp_heap_bytes_32, ocpp_fits_heap_budget_32, min_heapsize_kib_ocpp_32,
    ocpp_flash_bytes_per_hour (and per sample, per transaction),
    ocpp_journal_drain_ms (and _records), ocpp_smart_heap_bytes_32 (and _flash_bytes)
                             OCPP connected to a real central system, in a
                             transaction, both meters polling (evsectl.bench_ocpp)
    cfos_heap_bytes_32, cfos_heap_cost_bytes_32, cfos_boot_heap_cost_bytes_32,
    min_heapsize_kib_cfos_32 (and _off_32)
                             both cFos modes on: a Modbus client polling and
                             writing, the HTTP input reporting to a loopback
                             Charging Manager (evsectl.bench_cfos)
    mqtt_ha_heap_bytes_32, mqtt_ha_heap_cost_bytes_32, mqtt_ha_boot_heap_cost_bytes_32,
    min_heapsize_kib_mqtt_ha_32
                             MQTT and Home Assistant on, to a loopback mosquitto,
                             a paho-mqtt Home Assistant steering (evsectl.bench_mqtt)

The figures are printed, never asserted: targets are 0 B/tick, booting and
serving within 104 KiB (59 on 32-bit), and 10 h in at most 5 s.
"""

import http.client
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evsectl import bench_cfos, bench_mqtt, bench_ocpp, bench_site, bench_web, device, paths, romheap, sim
from evsectl.errors import UserError

MICROPYTHON32 = paths.source_tree().parent / "shared" / "micropython32" / "micropython32"

ENDPOINTS_GET = ("Status", "Meter1", "Meter2", "SystemConfig", "SystemInfo")
ENDPOINTS_POST = (
    ("/webapi/v1/SystemConfig", {"ChargeCurrent": 12}),
    ("/webapi/v1/EvseCtrl", {"EVSEPowerAvailable": 5000}),
    ("/webapi/v1/SystemInfo", {"UpdateCheckToggle": True}),
    ("/sim/v1/Vehicle", {"State": "C"}),
    ("/sim/v1/Faults", {"OverTemp": False}),
    ("/sim/v1/Time", {"AdvanceMs": 2000}),
)


def _tour(workdir, interpreter, micropython=None):
    dev = device.assemble(Path(workdir) / ("tour-%s-%s" % (interpreter, _tag(micropython))), "sim")
    (dev / "tick_tour.py").write_bytes(Path(__file__).with_name("tick_tour.py").read_bytes())
    exe = sim.micropython_exe(micropython) if interpreter == "micropython" else sys.executable
    out = subprocess.run([exe, "tick_tour.py", "--ticks-per-leg", "2000"], cwd=dev, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


class _Sim:
    """A simulator process for one measurement."""

    def __init__(self, workdir, interpreter="micropython", heapsize=None, precompile=True, bus_port=None, rom=True,
                 micropython=None, virtual_time=True, config=None, files=None, name="dev", frozen=False):
        """``config``: more SystemConfig keys in config.json; ``files``: {name:
        JSON object} more on the simulated flash (a charger configured earlier);
        ``frozen``: the app is frozen into ``micropython`` (evsectl.frozenheap),
        the flash holds only the loaders."""
        self._conn = http.client.HTTPConnection
        self.port = _free_port()
        rom = rom and interpreter == "micropython" and not frozen
        # Heap the ROM image takes where no process can map it (evsectl.romheap): not the app's.
        self.rom_heap_bytes = romheap.HEAP_BYTES if rom and sim.rom_in_heap(micropython) else 0
        dev = sim.prepare(Path(workdir) / ("%s-%s-%s-%s-%s" % (name, interpreter, _tag(micropython), heapsize,
                                                              "rom" if rom else "frozen" if frozen else "files")),
                          "sim", self.port, virtual_time, precompile=precompile, rom=rom)
        if frozen:  # no slot on the flash: boot.py finds none, and the imports come from the image
            shutil.rmtree(dev / device.SLOTS[0])
        settings = dict(config or {})
        if bus_port:  # two meters on the simulated RS485 bus, units 1 and 2
            sim_settings = json.loads((dev / "sim.json").read_text())
            sim_settings["rs485"] = "tcp://127.0.0.1:%d" % bus_port
            (dev / "sim.json").write_text(json.dumps(sim_settings))
            settings.update({"Meter1Type": 1, "Meter1PerPhase": True, "Meter2Type": 1, "Meter2PerPhase": True,
                             "ControlStrategy": 1, "ControlLimit": 20000})
        self.device_dir = dev
        if settings:
            (dev / "config.json").write_text(json.dumps(settings))
        for file_name, content in (files or {}).items():
            (dev / file_name).write_text(json.dumps(content))
        self.proc = subprocess.Popen(sim.command(interpreter, heapsize, rom, micropython), cwd=dev,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.boot_line = ""
        self.boot_output = []  # what it printed up to the boot line (all of it, if it never came)
        for line in self.proc.stdout:
            self.boot_output.append(line)
            if sim.READY_MARK in line:
                self.boot_line = line
                break
        deadline = time.monotonic() + 10  # the server starts listening just after the boot line
        while self.boot_line and time.monotonic() < deadline:
            try:
                self.request("GET", "/webapi/v1/Status")
                break
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)

    def request(self, method, path, body=None, answer=False):
        conn = self._conn("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None)
            r = conn.getresponse()
            data = r.read()
            return (r.status, json.loads(data)) if answer else r.status
        finally:
            conn.close()

    def serves_everything(self):
        if not self.boot_line:
            return False
        try:
            # Served: 200 and the whole JSON object (an answer cut short by a
            # MemoryError while it was written does not parse).
            ok = all(self.request("GET", "/webapi/v1/" + name, answer=True)[0] == 200 for name in ENDPOINTS_GET)
            ok = ok and all(self.request("POST", path, body, answer=True)[0] == 200 for path, body in ENDPOINTS_POST)
            return ok and self.request("GET", "/webapi/v1/Status", answer=True)[0] == 200 and self.proc.poll() is None
        except (OSError, http.client.HTTPException, ValueError):  # refused, cut short, timed out
            return False

    def close(self):
        self.proc.kill()
        self.proc.wait()


def _tag(micropython):
    """A name for the binary in directory names: runs on two binaries never share one."""
    return Path(micropython).name if micropython else "default"


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def boot_heap_bytes(workdir, rom=True, micropython=None):
    s = _Sim(workdir, heapsize="256k", rom=rom, micropython=micropython)
    try:
        match = re.search(r"heap free \d+ used (\d+)", s.boot_line)
        return int(match.group(1)) - s.rom_heap_bytes if match else None
    finally:
        s.close()


def min_heapsize_kib(workdir, low=16, high=256, bus_port=None, rom=True, micropython=None):
    """Bisect the smallest heap (KiB) at which the firmware boots and serves every endpoint."""

    def works(kib):
        s = _Sim(workdir, heapsize="%dk" % kib, bus_port=bus_port, rom=rom, micropython=micropython)
        try:
            return s.serves_everything() and (not bus_port or _meters_read(s))
        finally:
            s.close()

    return romheap.least_kib(works, low, high)


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


def _meters_read(s):
    """Five poll cycles of virtual time; True when both meters answered."""
    try:
        s.request("POST", "/sim/v1/Time", {"AdvanceMs": 5000})
        for n in (1, 2):
            status, answer = s.request("GET", "/webapi/v1/Meter%d" % n, answer=True)
            if status != 200 or answer["Meter%d" % n]["ModbusData"]["0x04_0x0034"]["DataStatus"] != "Valid":
                return False
        return True
    except (OSError, http.client.HTTPException, ValueError, KeyError):
        return False


def meters_heap_bytes(workdir, bus_port, heap_kib=256, micropython=None):
    # The app's heap is heap_kib wherever the ROM image is (evsectl.romheap adds its own).
    s = _Sim(workdir, heapsize="%dk" % heap_kib, bus_port=bus_port, micropython=micropython)
    try:
        if not _meters_read(s):
            return None
        s.request("GET", "/webapi/v1/Meter1")
        time.sleep(1.5)  # the housekeeping task collects garbage once a second
        heap = s.request("GET", "/webapi/v1/SystemInfo", answer=True)[1]["HeapInfo"]
        return heap_kib * 1024 - int(heap.split("/")[1], 16)  # in use = heap - free now
    finally:
        s.close()


def meter_models():
    """Wire figures of one poll cycle per model, from its request plan."""
    from evsectl import metersim

    models = metersim.models()
    out = {}
    for m in models.ALL:
        blocks = models.blocks(m)
        wire = sum(8 + 5 + 2 * count for _, count in blocks)  # RTU request + answer
        # 10 bits a byte at 8N1; between frames 3.5 characters of silence and the meter's own gap.
        seconds = wire * 10 / 9600 + len(blocks) * (2 * 3.5 * 10 / 9600 + m.gap_ms / 1000)
        out[m.name] = {
            "registers": len(m.registers),
            "requests": len(blocks),
            "wire_bytes": wire,
            "register_bytes": 4 * len(m.registers),  # the values alone: the floor no plan can beat
            "one_request_per_register_bytes": len(m.registers) * (8 + 5 + 4),
            "cycle_ms_at_9600": round(seconds * 1000, 1),
        }
    return out


def _bus():
    """Two simulated SDM72D-M v2 meters (units 1, 2) on an RTU-over-TCP bus."""
    from evsectl import metersim

    model = metersim.models().SDM72D_M_V2
    meters = [metersim.Meter(model, metersim.SteadyLoad(3, power_w=2300 * n, import_kwh=100.0), n) for n in (1, 2)]
    return metersim.MeterServer(meters, "rtu-over-tcp").start()


def print_figures_alone(measure, name):
    """``python -m evsectl.bench_<name>``: ``measure(workdir, bus_port,
    micropython32)``'s figures alone, as JSON, with the meters' bus they poll."""
    with tempfile.TemporaryDirectory(prefix="evse-bench-%s-" % name) as workdir:
        bus = _bus()
        try:
            print(json.dumps(measure(workdir, bus.port, MICROPYTHON32)))
        finally:
            bus.stop()


def _heap_figures(workdir, bus, micropython=None, suffix=""):
    """Every heap figure on one MicroPython binary, each key with ``suffix``."""
    mp = _tour(workdir, "micropython", micropython)
    figures = {
        "tick_alloc_bytes": mp["alloc_bytes_per_tick"],
        "ticks_per_s_micropython": mp["ticks_per_s"],
        "boot_heap_bytes": boot_heap_bytes(workdir, micropython=micropython),
        "min_heapsize_kib": min_heapsize_kib(workdir, micropython=micropython),
        "boot_heap_bytes_files": boot_heap_bytes(workdir, rom=False, micropython=micropython),
        "min_heapsize_kib_files": min_heapsize_kib(workdir, rom=False, micropython=micropython),
        "meters_heap_bytes": meters_heap_bytes(workdir, bus.port, micropython=micropython),
        "min_heapsize_kib_meters": min_heapsize_kib(workdir, bus_port=bus.port, micropython=micropython),
        "min_heapsize_kib_meters_files": min_heapsize_kib(workdir, bus_port=bus.port, rom=False,
                                                          micropython=micropython),
    }
    return {key + suffix: value for key, value in figures.items()}


def measure(micropython=None, micropython32=MICROPYTHON32):
    """``micropython``: the binary for the unsuffixed figures (None: the default
    port); ``micropython32``: the 32-bit one for the ``_32`` figures."""
    with tempfile.TemporaryDirectory(prefix="evse-bench-") as workdir:
        cp = _tour(workdir, "cpython")
        bus = _bus()
        try:
            figures = _heap_figures(workdir, bus, micropython)
            figures.update(_heap_figures(workdir, bus, str(micropython32), "_32"))
            figures.update(bench_ocpp.measure(workdir, bus.port, micropython32))
            figures.update(bench_cfos.measure(workdir, bus.port, micropython32))
            figures.update(bench_mqtt.measure(workdir, bus.port, micropython32))
        finally:
            bus.stop()
        figures["ticks_per_s_cpython"] = cp["ticks_per_s"]
        figures["sim_10h_session_s"] = sim_10h_session_s(workdir)
        figures["meter_models"] = meter_models()
        figures.update(bench_site.run(workdir))
        figures.update(bench_web.measure(workdir, str(micropython32)))
        return figures


def main(args):
    micropython32 = Path(args.micropython32 or MICROPYTHON32)
    if not micropython32.is_file():
        raise UserError("no 32-bit MicroPython at %s; give one with --micropython32" % micropython32)
    figures = measure(args.micropython, micropython32)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print("%-32s %s" % (key, value))
    return 0
