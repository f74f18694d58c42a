"""Simulated energy meters and the fault link, read as the firmware reads them.

pymodbus's own client reads every model's request blocks (``models.blocks``)
over Modbus TCP, RTU over TCP and RTU on a pty pair; raw sockets check the
fault link's frames byte for byte; ``evsectl meter-sim`` and ``evsectl sim``
run as a user starts them.
"""

import contextlib
import json
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.framer import FramerRTU

from evsectl import metersim, simmeters
from evsectl.faultlink import FaultLink
from socat_pty import PtyPair

models = metersim.models()

# What the source says: 231.5 V, unequal phases, some energy exported.
READING = {"VoltageV": 231.5, "CurrentA": [10.0, 7.5, 0.25], "ImportWh": 123456.0, "ExportWh": 789.0}

# What a three-phase meter then shows, by each register's Desc.
THREE_PHASE = {
    "Phase1Voltage[V]": 231.5, "Phase2Voltage[V]": 231.5, "Phase3Voltage[V]": 231.5,
    "Phase1Current[A]": 10.0, "Phase2Current[A]": 7.5, "Phase3Current[A]": 0.25,
    "Phase1Power[W]": 2315.0, "Phase2Power[W]": 1736.25, "Phase3Power[W]": 57.875,
    "TotalSystemPower[W]": 4109.125,
    "TotalImport[kWh]": 123.456, "TotalExport[kWh]": 0.789, "Total[kWh]": 124.245,
    "ResettableTotalActiveEnergy[kWh]": 124.245, "ResettableImportActiveEnergy[kWh]": 123.456,
    "ResettableExportActiveEnergy[kWh]": 0.789,
    "TotalImportActivePower[W]": 4109.125, "TotalExportActivePower[W]": 0.0,
}
# The single-phase SDM120M sees phase 1 only.
SINGLE_PHASE = {"Voltage[V]": 231.5, "Current[A]": 10.0, "TotalSystemPower[W]": 2315.0,
                "TotalImport[kWh]": 123.456, "TotalExport[kWh]": 0.789, "Total[kWh]": 124.245}

TRANSPORTS = ("tcp", "rtu-over-tcp", "pty")
TIMEOUT = 0.3  # s, for every client here


class Source:
    """A meter's source whose reading a test may change."""

    def __init__(self):
        self.reading = dict(READING)

    def __call__(self):
        return self.reading


def as_float(registers, i):
    return struct.unpack(">f", struct.pack(">HH", registers[i], registers[i + 1]))[0]


# -- every model on every transport: units 1..4 are models.ALL on one server each --


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    source = Source()
    meters = [metersim.Meter(model, source, unit) for unit, model in enumerate(models.ALL, 1)]
    with PtyPair(tmp_path_factory.mktemp("pty")) as pty:
        servers = {"tcp": metersim.MeterServer(meters, "tcp").start(),
                   "rtu-over-tcp": metersim.MeterServer(meters, "rtu-over-tcp").start(),
                   "pty": metersim.MeterServer(meters, "serial", device=pty.a).start()}
        try:
            yield source, servers, pty.b
        finally:
            for s in servers.values():
                s.stop()


@pytest.fixture
def connect(bench):
    source, servers, pty_end = bench
    source.reading = dict(READING)
    opened = []

    def make(transport):
        if transport == "pty":
            c = ModbusSerialClient(pty_end, baudrate=9600, timeout=TIMEOUT, retries=0)
        else:
            c = ModbusTcpClient("127.0.0.1", port=servers[transport].port, timeout=TIMEOUT, retries=0,
                                framer=FramerType.SOCKET if transport == "tcp" else FramerType.RTU)
        assert c.connect()
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("unit,model", list(enumerate(models.ALL, 1)), ids=[m.name for m in models.ALL])
def test_each_model_answers_its_blocks_with_the_sources_values(connect, transport, unit, model):
    c = connect(transport)
    seen = {}
    for start, count in models.blocks(model):
        r = c.read_input_registers(start, count=count, device_id=unit)
        assert not r.isError(), r
        assert len(r.registers) == count
        for address, desc, _ in model.registers:
            if start <= address < start + count:
                seen[desc] = as_float(r.registers, address - start)
    expected = SINGLE_PHASE if model.phases == 1 else THREE_PHASE
    # (A Desc may carry " (unconfirmed)": the quantity is the same.)
    assert seen == pytest.approx({desc: expected[desc.replace(" (unconfirmed)", "")] for _, desc, _ in model.registers},
                                 rel=1e-6)


def test_unlisted_registers_inside_a_read_block_hold_zero(connect):
    c = connect("tcp")
    sdm120m = c.read_input_registers(0x0000, count=14, device_id=4).registers  # phases 2 and 3 skipped
    assert sdm120m[2:6] == [0, 0, 0, 0] and sdm120m[8:12] == [0, 0, 0, 0]
    sdm72d = c.read_input_registers(0x0180, count=8, device_id=1).registers  # 0x0182 between the energies
    assert sdm72d[2:4] == [0, 0]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_registers_a_model_does_not_hold_answer_exception_2(connect, transport):
    c = connect(transport)
    for unit, address, count in ((1, 0x0000, 2),  # the first SDM72D-M has no per-phase block
                                 (1, 0x0034, 4),  # its total power, and two registers past it
                                 (2, 0x0100, 2), (3, 0x0500, 2), (4, 0x000E, 2)):
        r = c.read_input_registers(address, count=count, device_id=unit)
        assert r.isError() and r.exception_code == 0x02, (unit, hex(address), r)


def test_values_are_taken_at_each_read(connect, bench):
    source = bench[0]
    c = connect("rtu-over-tcp")
    assert as_float(c.read_input_registers(0x0034, count=2, device_id=2).registers, 0) == pytest.approx(4109.125)
    source.reading = dict(READING, CurrentA=[1.0, 2.0, 3.0])
    assert as_float(c.read_input_registers(0x0034, count=2, device_id=2).registers, 0) == pytest.approx(231.5 * 6)


def test_meters_hold_input_registers_only(connect):
    c = connect("tcp")
    r = c.read_holding_registers(0x0000, count=2, device_id=2)
    assert r.isError() and r.exception_code == 0x01
    assert c.write_register(0x0000, 1, device_id=2).isError()


def test_an_absent_unit_is_silent_on_a_bus_and_unreachable_behind_a_gateway(connect):
    with pytest.raises(ModbusIOException):
        connect("rtu-over-tcp").read_input_registers(0x0000, count=2, device_id=9)
    r = connect("tcp").read_input_registers(0x0000, count=2, device_id=9)
    assert r.isError() and r.exception_code == 0x0B  # gateway target device failed to respond


def test_a_meter_without_a_reading_answers_device_failure():
    def broken():
        raise OSError("the simulated site is down")

    server = metersim.MeterServer([metersim.Meter(models.SDM120M, broken)], "tcp").start()
    try:
        c = ModbusTcpClient("127.0.0.1", port=server.port, timeout=TIMEOUT, retries=0)
        c.connect()
        r = c.read_input_registers(0x0000, count=2, device_id=1)
        c.close()
        assert r.isError() and r.exception_code == 0x04
    finally:
        server.stop()


def test_a_feeding_site_shows_export_power_not_import_power():
    feeding = metersim.values(models.SDM72D_M, dict(READING, CurrentA=[-10.0, -10.0, 0.0]))
    assert feeding[0x0034] == pytest.approx(-4630.0)  # TotalSystemPower: import positive
    assert (feeding[0x0500], feeding[0x0502]) == pytest.approx((0.0, 4630.0))


def test_steady_load_counts_energy_in_real_time():
    now = [100.0]
    load = metersim.SteadyLoad(3, power_w=6900, import_kwh=12.5, clock=lambda: now[0])
    assert load()["CurrentA"] == pytest.approx([10.0, 10.0, 10.0])
    now[0] += 1800  # half an hour at 6.9 kW
    assert load()["ImportWh"] == pytest.approx(12500 + 3450)
    single = metersim.SteadyLoad(1, current_a=16)
    assert single()["CurrentA"] == [16, 0.0, 0.0] and single.power_w == pytest.approx(3680)
    feeding = metersim.SteadyLoad(1, power_w=-2300, clock=lambda: now[0])
    now[0] += 3600
    assert feeding()["ExportWh"] == pytest.approx(2300) and feeding()["ImportWh"] == 0


# -- the fault link, byte for byte --


def rtu_request(unit, address, count):
    body = struct.pack(">BBHH", unit, 4, address, count)
    return body + FramerRTU.compute_CRC(body).to_bytes(2, "big")


def mbap_request(unit, address, count, tid):
    return struct.pack(">HHHBBHH", tid, 0, 6, unit, 4, address, count)


def crc_ok(frame):
    return FramerRTU.check_CRC(frame[:-2], int.from_bytes(frame[-2:], "big"))


class Wire:
    """A raw client connection: what the firmware sends and receives."""

    def __init__(self, port, framing):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        self.framing = framing
        self.tid = 0

    def send(self, unit, address=0x0000, count=2):
        self.tid += 1
        frame = rtu_request(unit, address, count) if self.framing == "rtu" else mbap_request(unit, address, count, self.tid)
        self.sock.sendall(frame)

    def recv(self, n, timeout=TIMEOUT):
        """Up to ``n`` bytes, as many as come within ``timeout``; b"" also when closed."""
        data = b""
        deadline = time.monotonic() + timeout
        while len(data) < n and (left := deadline - time.monotonic()) > 0:
            if not select.select([self.sock], [], [], left)[0]:
                break
            try:
                chunk = self.sock.recv(n - len(data))
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data

    def closed(self):
        """True when the other side has closed the connection."""
        if not select.select([self.sock], [], [], 1)[0]:
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


def answer_length(framing, count):
    return (3 + 2 * count + 2) if framing == "rtu" else (9 + 2 * count)


@pytest.fixture(scope="module")
def upstream():
    """A bus (RTU over TCP) and a gateway (Modbus TCP), each holding an SDM72D-M v2 at
    unit 1 and an SDM120M at unit 2."""
    meters = [metersim.Meter(models.SDM72D_M_V2, Source(), 1), metersim.Meter(models.SDM120M, Source(), 2)]
    servers = {"rtu": metersim.MeterServer(meters, "rtu-over-tcp").start(),
               "mbap": metersim.MeterServer(meters, "tcp").start()}
    yield servers
    for s in servers.values():
        s.stop()


@pytest.fixture(params=("rtu", "mbap"))
def link(request, upstream):
    framing = request.param
    link = FaultLink(upstream[framing].port, framing).start()
    link.direct = upstream[framing].port  # the meter itself, for comparison
    wires = []

    def wire(port=None):
        wires.append(Wire(port or link.port, framing))
        return wires[-1]

    link.wire = wire
    yield link
    for w in wires:
        w.close()
    link.stop()


def exchange(wire, unit, address=0x0000, count=2):
    wire.send(unit, address, count)
    return wire.recv(answer_length(wire.framing, count))


def same(answer, other, framing):
    """The same answer, but for MBAP's transaction id (each connection counts its own)."""
    return answer == other if framing == "rtu" else answer[2:] == other[2:]


def test_link_passes_requests_and_answers_unchanged(link):
    w = link.wire()
    answer = exchange(w, 1, 0x0000, 18)
    assert len(answer) == answer_length(w.framing, 18)
    assert answer == exchange(link.wire(link.direct), 1, 0x0000, 18)


def test_no_answer_swallows_the_request(link):
    link.faults[1] = "NoAnswer"
    w = link.wire()
    assert exchange(w, 1) == b""
    answer = exchange(w, 2)  # the other meter, on the same connection
    assert same(answer, exchange(link.wire(link.direct), 2), w.framing)


@pytest.mark.parametrize("link", ["rtu"], indirect=True)
def test_crc_fault_flips_a_bit_of_the_rtu_crc(link):
    link.faults[1] = "Crc"
    answer = exchange(link.wire(), 1)
    true = exchange(link.wire(link.direct), 1)
    assert len(answer) == len(true) and not crc_ok(answer)
    assert answer[:-1] == true[:-1] and answer[-1] ^ true[-1] == 0x01
    c = ModbusTcpClient("127.0.0.1", port=link.port, framer=FramerType.RTU, timeout=TIMEOUT, retries=0)
    c.connect()
    try:
        with pytest.raises(ModbusIOException):  # pymodbus drops the frame, as the firmware must
            c.read_input_registers(0x0000, count=2, device_id=1)
    finally:
        c.close()


@pytest.mark.parametrize("link", ["mbap"], indirect=True)
def test_crc_fault_on_modbus_tcp_cuts_the_answers_last_byte(link):
    link.faults[1] = "Crc"
    w = link.wire()
    w.send(1, count=4)
    answer = w.recv(answer_length("mbap", 4) - 1)
    true = exchange(link.wire(link.direct), 1, count=4)
    assert int.from_bytes(answer[4:6], "big") == len(answer) - 6  # a whole MBAP frame...
    assert answer[8] == 8 and len(answer[9:]) == 7  # ...whose byte count promises more than it holds
    assert answer[6:] == true[6:-1]


def test_exception_fault_gets_the_meters_own_exception_2(link):
    link.faults[1] = "Exception"
    w = link.wire()
    w.send(1)
    answer = w.recv(5 if w.framing == "rtu" else 9)
    if w.framing == "rtu":
        assert answer == bytes([1, 0x84, 0x02]) + FramerRTU.compute_CRC(bytes([1, 0x84, 0x02])).to_bytes(2, "big")
    else:
        assert answer == struct.pack(">HHHBBB", w.tid, 0, 3, 1, 0x84, 0x02)


def test_slow_fault_answers_late_and_in_order(link):
    link.faults[1] = "Slow"
    link.slow_ms = 400
    w = link.wire()
    sent = time.monotonic()
    w.send(1)
    assert w.recv(1, timeout=0.2) == b""  # the client gives up on it...
    w.send(2)  # ...and asks the next meter
    late = w.recv(answer_length(w.framing, 2), timeout=1)
    assert time.monotonic() - sent >= 0.4
    assert same(late, exchange(link.wire(link.direct), 1), w.framing)  # meter 1's answer comes first
    assert same(w.recv(answer_length(w.framing, 2), timeout=1), exchange(link.wire(link.direct), 2), w.framing)


def test_unplugged_closes_the_connection_on_each_request_for_the_unit(link):
    link.faults[1] = "Unplugged"
    w = link.wire()
    w.send(1)
    assert w.closed()
    other = link.wire()
    assert same(exchange(other, 2), exchange(link.wire(link.direct), 2), other.framing)  # meter 2 still answers
    other.send(1)
    assert other.closed()
    link.faults[1] = None  # plugged in again
    assert same(exchange(link.wire(), 1), exchange(link.wire(link.direct), 1), other.framing)


# -- the meters of evsectl sim, fed by the simulated site --


class StandInSite:
    """A stand-in for the firmware's ``GET /sim/v1/Site`` (only to test the feeding path)."""

    def __init__(self):
        self.doc = {"VoltageV": 230.0, "HouseholdA": [5.0, 6.0, 7.0], "ChargerA": [16.0, 16.0, 16.0],
                    "SupplyPhaseL1": 1, "SupplyA": [16.0, 16.0, 16.0], "ChargerImportWh": 2500.0, "SiteImportWh": 98765.0, "Meter1Fault": None, "Meter2Fault": None,
                    "VirtualTimeMs": 0}
        self.gets = 0
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                site.gets += 1
                body = json.dumps(site.doc).encode() if self.path == "/sim/v1/Site" else b"{}"
                self.send_response(200 if self.path == "/sim/v1/Site" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        self.url = "http://127.0.0.1:%d/sim/v1/Site" % self.port
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self):
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def site():
    s = StandInSite()
    yield s
    s.stop()


@pytest.fixture
def sim_meters(site):
    meters = simmeters.SimMeters(site.port, "SDM120M", "SDM72D-M v2").start()
    yield meters
    meters.stop()


def read_floats(port, framer, unit, address, count):
    c = ModbusTcpClient("127.0.0.1", port=port, framer=framer, timeout=TIMEOUT, retries=0)
    c.connect()
    try:
        r = c.read_input_registers(address, count=count, device_id=unit)
    finally:
        c.close()
    assert not r.isError(), r
    return [as_float(r.registers, i) for i in range(0, count, 2)]


def test_sim_meter_1_measures_the_charger_and_meter_2_the_site(sim_meters):
    for port, framer in ((sim_meters.bus.port, FramerType.RTU), (sim_meters.gateway.port, FramerType.SOCKET)):
        # Meter 1, an SDM120M: phase 1 of the charger.
        assert read_floats(port, framer, 1, 0x0000, 14)[::3] == pytest.approx([230.0, 16.0, 3680.0])
        assert read_floats(port, framer, 1, 0x0048, 2) == pytest.approx([2.5])
        # Meter 2, an SDM72D-M v2: household plus charger on every phase.
        assert read_floats(port, framer, 2, 0x0006, 6) == pytest.approx([21.0, 22.0, 23.0])
        assert read_floats(port, framer, 2, 0x0034, 2) == pytest.approx([230.0 * 66])
        assert read_floats(port, framer, 2, 0x0048, 2) == pytest.approx([98.765])


def test_sim_meter_2_sees_the_charger_on_the_phase_it_is_wired_to(site, sim_meters):
    # A one-phase vehicle, the charger's L1 wired to the site's L2.
    site.doc.update(ChargerA=[16.0, 0.0, 0.0], SupplyPhaseL1=2, SupplyA=[0.0, 16.0, 0.0])
    time.sleep(0.1)  # past the feed's cache
    assert read_floats(sim_meters.gateway.port, FramerType.SOCKET, 1, 0x0006, 2) == pytest.approx([16.0])
    assert read_floats(sim_meters.gateway.port, FramerType.SOCKET, 2, 0x0006, 6) == pytest.approx([5.0, 22.0, 7.0])


def test_sim_meter_faults_follow_the_site(site, sim_meters):
    site.doc["Meter1Fault"] = "NoAnswer"
    time.sleep(0.1)  # past the feed's cache
    for port, framer in ((sim_meters.bus.port, FramerType.RTU), (sim_meters.gateway.port, FramerType.SOCKET)):
        with pytest.raises(ModbusIOException):
            read_floats(port, framer, 1, 0x0000, 2)
        assert read_floats(port, framer, 2, 0x0000, 2) == pytest.approx([230.0])
    site.doc["Meter1Fault"] = None
    time.sleep(0.1)
    assert read_floats(sim_meters.bus.port, FramerType.RTU, 1, 0x0000, 2) == pytest.approx([230.0])


def test_site_feed_shows_one_moment_per_poll_cycle(site):
    feed = simmeters.SiteFeed(site.url, max_age=60)
    first = feed.meter(1), feed.meter(2), feed.fault(1), feed.fault(2)
    site.doc["ChargerA"] = [10.0, 10.0, 10.0]
    assert (feed.meter(1), feed.meter(2), feed.fault(1), feed.fault(2)) == first
    assert site.gets == 1
    fresh = simmeters.SiteFeed(site.url, max_age=0.05)
    fresh.meter(1)
    site.doc["ChargerA"] = [12.0, 12.0, 12.0]
    time.sleep(0.06)
    assert fresh.meter(1)["CurrentA"] == [12.0, 12.0, 12.0]


def test_sim_meters_without_a_site_answer_device_failure(site, sim_meters):
    site.stop()
    time.sleep(0.1)
    c = ModbusTcpClient("127.0.0.1", port=sim_meters.gateway.port, timeout=TIMEOUT, retries=0)
    c.connect()
    r = c.read_input_registers(0x0000, count=2, device_id=1)
    c.close()
    assert r.isError() and r.exception_code == 0x04


def test_sim_meters_reject_an_unknown_model(site):
    with pytest.raises(ValueError, match="SDM120M"):
        simmeters.SimMeters(site.port, "SDM630")


def test_evsectl_sim_serves_the_meters_and_tells_the_firmware_where(sim_factory):
    s = sim_factory(virtual_time=False, extra=("--meter1", "SDM120M"))
    settings = json.loads((s.device_dir / "sim.json").read_text())
    bus = int(re.fullmatch(r"tcp://127\.0\.0\.1:(\d+)", settings["rs485"]).group(1))
    gateway = int(re.fullmatch(r"127\.0\.0\.1:(\d+)", settings["modbus_gateway"]).group(1))
    assert ("Simulated meters: RS485 bus tcp://127.0.0.1:%d (unit 1 SDM120M, unit 2 SDM72D-M v2), "
            "Modbus TCP gateway 127.0.0.1:%d" % (bus, gateway)) in s.output()
    site = s.client.ok(s.client.get("/sim/v1/Site"))
    assert read_floats(gateway, FramerType.SOCKET, 2, 0x0000, 2) == pytest.approx([site["VoltageV"]])
    assert read_floats(bus, FramerType.RTU, 1, 0x0000, 2) == pytest.approx([site["VoltageV"]])


def test_evsectl_sim_rejects_an_unknown_meter_model_before_touching_the_device(tmp_path):
    run = subprocess.run([sys.executable, "-m", "evsectl", "sim", "--device-dir", str(tmp_path / "dev"),
                          "--meter2", "SDM630"], capture_output=True, text=True, timeout=30)
    assert run.returncode != 0 and "unknown meter model 'SDM630'" in run.stderr
    assert not (tmp_path / "dev").exists()


# -- evsectl meter-sim, as a user starts it --


@contextlib.contextmanager
def meter_sim(*args):
    """``evsectl meter-sim`` in a subprocess, once it says it serves: what it said."""
    proc = subprocess.Popen([sys.executable, "-m", "evsectl", "meter-sim", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with proc:
        watchdog = threading.Timer(10, proc.kill)
        watchdog.start()
        said = ""
        for line in proc.stdout:
            said += line
            if line == "Ctrl-C stops it.\n":
                break
        watchdog.cancel()
        assert proc.poll() is None, "meter-sim did not start:\n" + said
        try:
            yield said
        finally:
            proc.terminate()


def test_meter_sim_serves_modbus_tcp():
    with meter_sim("--model", "SDM72D-M", "--tcp", "0", "--power", "3450", "--import-kwh", "12.5") as said:
        port = int(re.search(r"Modbus TCP on 127\.0\.0\.1:(\d+)", said).group(1))
        assert "0x0034  TotalSystemPower[W]" in said
        assert read_floats(port, FramerType.SOCKET, 1, 0x0034, 2) == pytest.approx([3450.0])
        imported = read_floats(port, FramerType.SOCKET, 1, 0x0048, 2)[0]
        assert 12.5 <= imported < 12.51  # counting up at 3.45 kW


def test_meter_sim_serves_rtu_on_a_serial_port(tmp_path):
    # (at 8N2: a pty refuses parity)
    with PtyPair(tmp_path) as pty, meter_sim("--model", "sdm120m", "--serial", pty.a, "--baud", "19200",
                                             "--stopbits", "2", "--unit", "7", "--current", "16") as said:
        assert "Simulated SDM120M meter, unit 7: Modbus RTU on %s (19200 8N2)" % pty.a in said
        c = ModbusSerialClient(pty.b, baudrate=19200, stopbits=2, timeout=TIMEOUT, retries=0)
        c.connect()
        r = c.read_input_registers(0x0006, count=8, device_id=7)
        c.close()
        assert [as_float(r.registers, 0), as_float(r.registers, 6)] == pytest.approx([16.0, 3680.0])


@pytest.mark.parametrize("args,says", [
    (("--model", "SDM630", "--tcp", "0"), "unknown meter model 'SDM630' (known: SDM72D-M, SDM72D-M v2, NMID30-2, SDM120M)"),
    (("--model", "SDM120M", "--serial", "/dev/null", "--rtu-over-tcp"), "--rtu-over-tcp goes with --tcp"),
    (("--model", "SDM120M", "--tcp", "0", "--unit", "248"), "unit id 248 out of range 1..247"),
    (("--model", "SDM120M", "--serial", "/nonexistent/tty"), "cannot serve on /nonexistent/tty"),
])
def test_meter_sim_rejects_bad_input(args, says):
    run = subprocess.run([sys.executable, "-m", "evsectl", "meter-sim", *args], capture_output=True, text=True,
                         timeout=30)
    assert run.returncode != 0 and says in run.stderr
