"""cFos's Power Brain wallbox, end to end: a real Modbus client (pymodbus's
ModbusTcpClient) plays the cFos Charging Manager or evcc against the real
firmware under the MicroPython unix port (``evsectl sim``, virtual time),
on loopback. The simulator's control API drives the vehicle and shows the
board's PWM; the WebAPI shows whose limit the offer is."""

import socket
import struct
import time

import pytest
from pymodbus.client import ModbusTcpClient

from simclient import free_port
from cfos.registers import WALLBOX, decode, entries

CNF = "/cnf?cmd=modbus&device=evse&"


def duty(amps):
    return amps * 100 // 6  # IEC 61851-1 below 51 A (evse.pilot.duty_permille)


class Manager:
    """The manager's side: a pymodbus client on the charger's port 4701-alike."""

    def __init__(self, port):
        self.port = port
        self.client = ModbusTcpClient("127.0.0.1", port=port, timeout=5, retries=0)
        deadline = time.monotonic() + 20
        while not self.client.connect():  # the server starts with the firmware's tasks
            assert time.monotonic() < deadline, "the Modbus server did not come up"
            time.sleep(0.1)

    def read(self, addr, count=1, unit=1):
        rr = self.client.read_holding_registers(addr, count=count, device_id=unit)
        assert not rr.isError(), rr
        return list(rr.registers)

    def refused(self, rr):
        assert rr.isError(), rr
        return rr.exception_code

    def write(self, addr, value):
        rr = self.client.write_register(addr, value, device_id=1)
        assert not rr.isError(), rr

    def close(self):
        self.client.close()


def raw(port, pdu):
    """The answer's PDU to ``pdu`` for unit 1, over a socket of its own."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(struct.pack(">HHHB", 7, 0, len(pdu) + 1, 1) + pdu)
        head = s.recv(7)
        tid, proto, length, unit = struct.unpack(">HHHB", head)
        assert (tid, proto, unit) == (7, 0, 1)
        body = b""
        while len(body) < length - 1:
            body += s.recv(length - 1 - len(body))
        return body


def closed(sock):
    """The other end closed ``sock`` without a word (a reset, when it left
    what was sent unread)."""
    try:
        return sock.recv(64) == b""
    except ConnectionResetError:
        return True


@pytest.fixture
def charger(sim_factory):
    made = []

    def make(**settings):
        port = free_port()
        config = dict(CfosModbus=True, CfosModbusPort=port)
        config.update(settings)
        sim = sim_factory(files={"config.json": config}).client
        sim.advance(500)  # the boot self-test
        manager = Manager(port)
        made.append(manager)
        return sim, manager

    yield make
    for m in made:
        m.close()


def test_identification_status_limit_disable_and_fallback(charger):
    sim, cfos = charger(CfosTimeoutS=30, CfosFallbackA=8, DeviceName="Garage")
    # Identification, as a Power Brain's.
    assert cfos.read(8000, 8) == [0xCF05, 0, 1, 0x100, 1, 0, 0x100, 0]
    assert decode(cfos.read(8016, 16), 3) == "Garage"
    assert decode(cfos.read(8008, 8), 3) == sim.ok(sim.get(CNF + "read=8008s"))
    assert cfos.read(8092) == [0]  # waiting
    # A vehicle charges at the settings' 16 A.
    sim.vehicle(State="C")
    sim.advance(2000)
    assert cfos.read(8092) == [2] and sim.board()["PwmDutyPermille"] == duty(16)
    # The manager sets 10 A: the PWM follows (the offer changes at most every 5 s).
    cfos.write(8093, 100)
    sim.advance(6000)
    assert sim.board()["PwmDutyPermille"] == duty(10) and sim.board()["RelayClosed"]
    assert sim.status()["ActualCurrentLimitSource"] == "cFos"
    assert cfos.read(8093, 2) == [100, 1]
    # It disables the charger: no offer, the contactor opens, the transaction pauses.
    cfos.write(8094, 0)
    sim.advance(7000)  # a vehicle that does not stop drawing has 6 s before the contactor opens
    board = sim.board()
    assert board["PwmDutyPermille"] == 1000 and not board["RelayClosed"]
    status = sim.status()
    assert status["ChargerStarted"] and status["ActualCurrentLimitSource"] == "Disabled"
    assert cfos.read(8094) == [0] and cfos.read(8092) == [2]  # the vehicle still asks (C1, as EvseState)
    cfos.write(8094, 1)
    sim.advance(6000)
    assert sim.board()["PwmDutyPermille"] == duty(10) and cfos.read(8092) == [2]
    # Then it stops writing, and asking: 30 s later the limit falls back to 8 A.
    sim.advance(25000)
    assert sim.board()["PwmDutyPermille"] == duty(10)
    sim.advance(11000)
    assert sim.board()["PwmDutyPermille"] == duty(8)
    assert sim.status()["ActualCurrentLimitSource"] == "cFos"
    assert cfos.read(8093) == [80]  # the fallback; reading brings nothing back
    sim.advance(6000)
    assert sim.board()["PwmDutyPermille"] == duty(8)


def test_a_silent_managers_disable_lapses(charger):
    sim, cfos = charger(CfosTimeoutS=10)
    sim.vehicle(State="C")
    sim.advance(2000)
    cfos.write(8094, 0)
    sim.advance(1000)
    assert sim.board()["PwmDutyPermille"] == 1000
    cfos.close()  # gone
    sim.advance(11000)
    # The lapse is seen by a once-a-second watch (real time): wait for it.
    deadline = time.monotonic() + 10
    while sim.board()["PwmDutyPermille"] != duty(16):
        assert time.monotonic() < deadline, sim.board()
        time.sleep(0.2)
        sim.advance(1000)
    assert sim.status()["ActualCurrentLimitSource"] == "Settings"


def test_every_register_against_the_http_mapping(charger):
    sim, cfos = charger()
    sim.vehicle(State="C")
    sim.advance(2000)
    cfos.write(8093, 130)
    sim.advance(6000)
    every = sim.ok(sim.get(CNF + "read=all"))
    assert len(every) == len(WALLBOX) // 3
    for addr, size, kind in entries(WALLBOX):
        key = "%d%s" % (addr, ("", "d", "q", "s")[kind])
        assert decode(cfos.read(addr, size), kind) == every[key], key
    assert every["8092"] == 2 and every["8093"] == 130 and every["8000d"] == -821755904
    assert every["8064d"] > 0 and every["8062d"] > 0  # 13 A flows
    # One read across several registers is the same words as one read each.
    assert cfos.read(8092, 3) == [every["8092"], every["8093"], every["8094"]]


def test_exceptions_2_and_3_leave_the_charger_as_it_was(charger):
    sim, cfos = charger()
    sim.vehicle(State="C")
    sim.advance(2000)
    cfos.write(8093, 100)
    sim.advance(6000)
    c = cfos.client
    before = (cfos.read(8092, 3), sim.board()["PwmDutyPermille"], sim.status()["ActualCurrentLimitSource"])
    assert cfos.refused(c.write_register(8093, 801, device_id=1)) == 3  # over 80 A
    assert cfos.refused(c.write_register(8094, 2, device_id=1)) == 3
    assert cfos.refused(c.write_registers(8093, [60, 7], device_id=1)) == 3  # the 6 A is not written either
    assert raw(cfos.port, bytes([3, 0x1F, 0x40, 0, 126])) == bytes([0x83, 3])  # pymodbus will not send it
    assert cfos.refused(c.write_register(8092, 1, device_id=1)) == 2  # status: read only
    assert cfos.refused(c.write_register(8095, 1, device_id=1)) == 2  # not served
    assert cfos.refused(c.write_registers(8093, [60, 1, 1], device_id=1)) == 2
    assert cfos.refused(c.read_holding_registers(8090, count=3, device_id=1)) == 2
    assert cfos.refused(c.read_holding_registers(8092, count=1, device_id=7)) == 0x0B  # unit 1 only
    sim.advance(6000)
    assert (cfos.read(8092, 3), sim.board()["PwmDutyPermille"], sim.status()["ActualCurrentLimitSource"]) == before


def test_http_writes_need_the_admin_password(charger):
    sim, cfos = charger()
    sim.config(AdminPassword="s3cret")
    denied = sim.get(CNF + "write=8093&value=100")
    assert denied.status == 401 and cfos.read(8093) == [320]  # the rating: no cFos limit
    assert sim.get(CNF + "write=8093&value=100", auth=("admin", "wrong")).status == 401
    ok = sim.get(CNF + "write=8093&value=100", auth=("admin", "s3cret"))
    assert ok.status == 200 and ok.json == "ok" and cfos.read(8093) == [100]
    assert sim.ok(sim.get(CNF + "read=8093")) == 100  # reads stay open
    bad = sim.get(CNF + "write=8093d&value=100", auth=("admin", "s3cret"))
    assert bad.status == 400 and bad.json == "bad modbus register size"
    meter = sim.ok(sim.get("/cnf?cmd=modbus&device=meter1&read=all"))
    assert meter["8003"] == 0x101 and meter["8062d"] == 0
    assert sim.get("/cnf?cmd=modbus&device=meter3&read=all").status == 400


def test_the_meters_as_the_power_brain_shows_them(charger):
    sim, cfos = charger(Meter1Type=1, Meter1PerPhase=True, Meter2Type=1, Meter2PerPhase=True)
    sim.vehicle(State="C")
    for _ in range(20):  # a minute of charging: the meters count some energy
        sim.advance(3000)  # (each poll cycle on the RS485 bus takes real time too)
    m1 = sim.meter(1)["ModbusData"]
    m2 = sim.meter(2)["ModbusData"]
    one = sim.ok(sim.get("/cnf?cmd=modbus&device=meter1&read=all"))
    two = sim.ok(sim.get("/cnf?cmd=modbus&device=meter2&read=all"))
    def whole(x):  # to the nearest, halves away from zero (positive here)
        return int(x + 0.5)

    for regs, data in ((one, m1), (two, m2)):
        assert regs["8058q"] == whole(data["0x04_0x0048"]["Value"] * 1000) > 0  # TotalImport[kWh], in Wh
        assert regs["8062d"] == whole(data["0x04_0x0034"]["Value"])  # TotalSystemPower[W]
        for n in range(3):
            assert regs["%dd" % (8064 + 2 * n)] == whole(data["0x04_0x%04x" % (6 + 2 * n)]["Value"] * 10)
            assert regs["%d" % (8045 + n)] == whole(data["0x04_0x%04x" % (2 * n)]["Value"])
    assert one["8062d"] > 10000 and one["8064d"] > 150  # 16 A on three phases
    # The wallbox has meter 1 attached: its energy and currents, and says so.
    assert cfos.read(8112) == [1] and cfos.read(8057) == [1]
    assert decode(cfos.read(8058, 4), 2) == one["8058q"]
    assert [decode(cfos.read(a, 2), 1) for a in (8064, 8066, 8068)] == [one["8064d"], one["8066d"], one["8068d"]]
    assert decode(cfos.read(8062, 2), 1) == sim.status()["ActualPower"]


def test_off_nothing_is_served(sim_factory):
    port = free_port()
    sim = sim_factory(files={"config.json": {"CfosModbusPort": port}}).client
    sim.advance(500)
    assert sim.get(CNF + "read=all").status == 404
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_bounded_connections_and_frames(charger):
    sim, cfos = charger()
    # The manager holds one connection; a second is served, a third closed at once.
    with socket.create_connection(("127.0.0.1", cfos.port), timeout=5) as second:
        second.sendall(struct.pack(">HHHB", 1, 0, 6, 1) + bytes([3, 0x1F, 0x9C, 0, 1]))
        assert len(second.recv(64)) == 11  # header, FC, byte count, one register
        with socket.create_connection(("127.0.0.1", cfos.port), timeout=5) as third:
            assert closed(third)
    # Not Modbus TCP (protocol id 1): the connection is closed, nothing else happens.
    with socket.create_connection(("127.0.0.1", cfos.port), timeout=5) as odd:
        odd.sendall(struct.pack(">HHHB", 1, 1, 6, 1) + bytes([6, 0x1F, 0x9D, 0, 60]))
        assert closed(odd)
    assert cfos.read(8093) == [320]  # nothing was written
    assert raw(cfos.port, bytes([3, 0x1F, 0x9C, 0, 1])) == bytes([3, 2, 0, 0])  # and it serves on


def test_what_evccs_cfos_charger_reads_and_writes(charger):
    """evcc's ``cfos`` charger (charger/cfos.go), call by call: its decoding
    of each answer gives the charger as the WebAPI shows it."""
    sim, cfos = charger(Meter1Type=1, Meter1PerPhase=True, ChargeAutoStart=False)
    sim.advance(3000)
    c = cfos.client

    def words(addr, count):
        return b"".join(w.to_bytes(2, "big") for w in cfos.read(addr, count))

    assert words(8112, 1) != b"\0\0"  # a meter: evcc reads power and energy
    assert words(8057, 1) != b"\0\0"  # with phase currents
    assert not int.from_bytes(words(8113, 1), "big") & 1 << 8  # no phase switching
    assert words(8092, 1)[1] == 0  # Status(): A
    sim.vehicle(State="B")
    sim.advance(1000)
    assert words(8092, 1)[1] == 1  # B: a vehicle
    assert sim.ctrl(ChargeStartToggle=True)["ChargerStarted"]  # authorized at the charger
    sim.vehicle(State="C")
    sim.advance(2000)
    assert words(8092, 1)[1] == 2  # C: charging
    assert words(8094, 1)[1] == 1  # Enabled()
    assert not c.write_register(8093, int(8.5 * 10), device_id=1).isError()  # MaxCurrentMillis(8.5)
    for _ in range(4):
        sim.advance(3000)
    assert sim.board()["PwmDutyPermille"] == duty(8)
    power = int.from_bytes(words(8062, 2), "big")  # currentPower()
    assert power == sim.status()["ActualPower"] > 5000
    energy_kwh = int.from_bytes(words(8058, 4), "big") / 1e3  # totalEnergy()
    assert abs(energy_kwh - sim.meter(1)["ModbusData"]["0x04_0x0048"]["Value"]) < 0.001
    b = words(8064, 6)  # currents()
    currents = [int.from_bytes(b[4 * i:4 * i + 4], "big") / 10 for i in range(3)]
    assert currents == [sim.meter(1)["ModbusData"]["0x04_0x%04x" % (6 + 2 * i)]["Value"] for i in range(3)]
    assert words(8096, 15).rstrip(b"\0") == b""  # Identify(): no RFID, authorized by the button
    assert not c.write_register(8094, 0, device_id=1).isError()  # Enable(false)
    assert words(8094, 1)[1] == 0
    assert c.write_register(8086, 5, device_id=1).exception_code == 2  # WakeUp(): refused, not faked
