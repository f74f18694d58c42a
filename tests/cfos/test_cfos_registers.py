"""The Power Brain register map (cfos.registers), its Modbus PDUs
(cfos.modbus_server.answer), its HTTP mapping (cfos.http) and the cFos
source's timeout (cfos.steer), on a real charger (the Rig of tests/charger:
app.runtime.Charger, simulated board, virtual time). Runs under CPython and
both MicroPython ports (test_cfos_micropython.py)."""

import sys

# tests/charger, spelt without "..": the Rig finds the board file from its own path.
_TESTS = __file__[: __file__.rfind("/")]
_TESTS = _TESTS[: _TESTS.rfind("/")]
if _TESTS + "/charger" not in sys.path:
    sys.path.insert(0, _TESTS + "/charger")

from rig import Rig  # noqa: E402

from cfos import http  # noqa: E402
from cfos.modbus_server import answer  # noqa: E402
from cfos.registers import ModbusError, Registers, S32, S64, STR, decode, encode, entries  # noqa: E402
from cfos.service import serial  # noqa: E402
from cfos.steer import Steer  # noqa: E402
from charger.limits import CFOS  # noqa: E402


def rig(**settings):
    r = Rig(**settings)
    r.steer = Steer(r.m)
    r.box = Registers(r.m, r.steer, 0, "aabb-ccdd-eeff", "0.1.2")
    return r


def refused(fn, code):
    try:
        fn()
    except ModbusError as e:
        assert e.code == code, e.code
        return
    raise AssertionError("not refused")


def state(r):
    """What a refused write must leave as it was."""
    return (r.m.limits.get(CFOS), r.m.enabled, r.steer.deciamps, r.steer.enabled, r.m.offered_a)


def test_identification():
    r = rig(DeviceName="Garage")
    b = r.box
    assert b.read(8000, 8) == [0xCF05, 0, 1, 0x100, 0x0001, 2, 0x0100, 0]
    assert decode(b.read(8000, 2), S32) == -821755904  # the seed's "8000d"
    assert decode(b.read(8008, 8), STR) == "aabb-ccdd-eeff"
    assert decode(b.read(8016, 16), STR) == "Garage"
    assert b.read(8040, 1) == [1]
    assert serial("FC:F5:C4:6D:31:0C") == "fcf5-c46d-310c"


def test_status_follows_the_vehicle():
    r = rig()
    assert r.box.read(8092, 1) == [0]
    r.vehicle("B")
    r.run(1000)
    assert r.box.read(8092, 1) == [1]
    r.vehicle("C")
    r.run(2000)
    assert r.box.read(8092, 1) == [2] and r.m.charging
    # No meter: no energy counter, the charger's own current on three phases.
    assert r.box.read(8112, 1) == [0] and r.box.read(8057, 1) == [0]
    currents = [decode(r.box.read(a, 2), S32) for a in (8064, 8066, 8068)]
    assert currents[0] == currents[1] == currents[2] == int(r.m.current_a * 10 + 0.5) > 0
    assert decode(r.box.read(8062, 2), S32) == r.m.power_w > 0


def test_status_of_faults():
    r = rig()
    r.vehicle("C")
    r.run(2000)
    r.fault("OverTemp")
    r.run(2000)
    assert r.box.read(8092, 1) == [5]  # overtemperature, as evcc reads it
    r.fault("OverTemp", False)
    r.fault("Epo")
    r.run(1000)
    assert r.box.read(8092, 1) == [4]  # any other error


def test_the_current_limit_is_the_cfos_source():
    r = rig()
    r.vehicle("C")
    r.run(2000)
    assert r.m.offered_a == 16
    r.box.write(8093, [100], r.now())
    r.run(6000)  # the offer changes at most every 5 s
    assert r.m.offered_a == 10 and r.m.limit_source == "cFos"
    assert r.box.read(8093, 1) == [100]
    r.box.write(8093, [65], r.now())  # 6.5 A: whole amperes, never more than asked
    r.run(6000)
    assert r.m.offered_a == 6 and r.box.read(8093, 1) == [65]


def test_disable_pauses_and_enable_resumes():
    r = rig()
    r.vehicle("C")
    r.run(2000)
    r.names()
    r.box.write(8094, [0], r.now())
    r.run(1000)
    assert not r.m.enabled and r.m.offered_a == 0 and r.box.read(8094, 1) == [0]
    assert "ChargingPausedEVSE" in r.names() and r.m.transaction_active
    r.box.write(8094, [1], r.now())
    r.run(6000)  # an offer again at most 5 s after the last change
    assert r.m.enabled and r.m.offered_a == 16 and r.box.read(8094, 1) == [1]


def test_a_silent_manager_falls_back():
    r = rig(CfosTimeoutS=30, CfosFallbackA=8)
    r.vehicle("C")
    r.run(2000)
    r.box.write(8093, [120], r.now())
    r.box.write(8094, [0], r.now())
    r.run(20000)
    r.steer.heard(r.now())  # any request: the manager is there
    r.run(20000)
    assert not r.m.enabled and r.box.read(8093, 1) == [120]
    r.run(11000)  # 31 s of silence
    assert r.box.read(8093, 1) == [80] and r.box.read(8094, 1) == [1]
    r.run(6000)
    assert r.m.enabled and r.m.offered_a == 8 and r.m.limit_source == "cFos"
    r.steer.heard(r.now())  # a request after the fallback brings nothing back
    assert r.box.read(8093, 1) == [80]


def test_the_arbiter_falls_back_at_the_deadline_by_itself():
    r = rig(CfosTimeoutS=10, CfosFallbackA=0)
    r.vehicle("C")
    r.run(2000)
    r.box.write(8093, [100], r.now())
    r.run(6000)
    assert r.m.offered_a == 10
    r.run(5000)  # 11 s: the control tick reverted the slot (nobody read a register)
    assert r.m.limits.get(CFOS) == 0 and r.m.offered_a == 0


def test_exception_3_out_of_range_changes_nothing():
    r = rig()
    r.box.write(8093, [100], r.now())
    before = state(r)
    refused(lambda: r.box.write(8093, [801], r.now()), 3)
    refused(lambda: r.box.write(8094, [2], r.now()), 3)
    refused(lambda: r.box.write(8087, [1], r.now()), 3)  # three phases, and no relay to switch
    refused(lambda: r.box.write(8093, [90, 7], r.now()), 3)  # 8094 = 7: neither is written
    refused(lambda: r.box.read(8000, 126), 3)
    refused(lambda: r.box.read(8000, 0), 3)
    assert state(r) == before
    r.box.write(8087, [0], r.now())  # what is in force is accepted


def test_exception_2_unknown_or_read_only_changes_nothing():
    r = rig()
    before = state(r)
    for addr in (8092, 8000, 8058, 8095, 8086, 8040, 9000):
        refused(lambda: r.box.write(addr, [1], r.now()), 2)
    refused(lambda: r.box.write(8093, [90, 1, 5], r.now()), 2)  # 8095 is not served: nothing written
    refused(lambda: r.box.read(8095, 1), 2)
    refused(lambda: r.box.read(8041, 1), 2)  # the S0 meters' registers are not the wallbox's
    refused(lambda: r.box.read(8090, 4), 2)  # 8090, 8091 are not served
    assert state(r) == before
    assert len(r.box.read(8092, 3)) == 3 and len(r.box.read(8096, 15)) == 15  # evcc's reads


def test_modbus_pdus():
    r = rig()
    now = r.now()
    assert answer(r.box, 1, bytes([3, 0x1F, 0x40, 0, 2]), now) == bytes([3, 4, 0xCF, 0x05, 0, 0])
    assert answer(r.box, 1, bytes([6, 0x1F, 0x9D, 0, 100]), now) == bytes([6, 0x1F, 0x9D, 0, 100])
    assert r.steer.deciamps == 100
    assert answer(r.box, 1, bytes([16, 0x1F, 0x9D, 0, 2, 4, 0, 90, 0, 1]), now) == bytes([16, 0x1F, 0x9D, 0, 2])
    assert r.steer.deciamps == 90 and r.steer.enabled == 1
    assert answer(r.box, 1, bytes([4, 0x1F, 0x40, 0, 2]), now) == bytes([0x84, 1])  # input registers: none
    assert answer(r.box, 2, bytes([3, 0x1F, 0x40, 0, 2]), now) == bytes([0x83, 0x0B])  # unit 2: not here
    assert answer(r.box, 1, bytes([3, 0x1F, 0x40, 0]), now) == bytes([0x83, 3])  # short
    assert answer(r.box, 1, bytes([16, 0x1F, 0x9D, 0, 2, 3, 0, 90, 0]), now) == bytes([0x90, 3])  # byte count
    assert answer(r.box, 1, bytes([6, 0x1F, 0x9C, 0, 1]), now) == bytes([0x86, 2])
    assert answer(r.box, 1, bytes([6, 0x1F, 0x9D, 0x10, 0]), now) == bytes([0x86, 3])
    assert answer(r.box, 1, b"", now) == bytes([0x80, 1])
    assert r.steer.deciamps == 90


def test_http_reads_as_the_seed_shows_them():
    r = rig()
    b = r.box
    assert http.read(b, "8002", None) == 1
    assert http.read(b, "8000d", None) == -821755904
    assert http.read(b, "8016s", None) == "EVSE"
    assert http.read(b, "8008s", 4) == "aabb-ccd"
    assert http.read(b, "8002", 6) == [1, 0x100, 1, 2, 0x100, 0]
    assert http.read(b, "8064d", 3) == [0, 0, 0]
    every = http.read(b, "all", None)
    assert every["8000d"] == -821755904 and every["8058q"] == 0 and every["8096s"] == ""
    assert sorted(every) == sorted("%d%s" % (a, ("", "d", "q", "s")[k]) for a, _, k in entries(b.table))
    for bad in ("80x", "", "8002x", "99999"):
        try:
            http.read(b, bad, None)
            raise AssertionError(bad)
        except ValueError:
            pass
    refused(lambda: http.read(b, "8095", None), 2)


def test_http_writes():
    r = rig()
    b = r.box
    assert http.write(b, "8093", "100", None, r.now()) is None and r.steer.deciamps == 100
    assert http.write(b, "8093", None, "[90, 0 ]", r.now()) is None
    assert r.steer.deciamps == 90 and not r.m.enabled
    before = state(r)
    assert http.write(b, "8093d", "1", None, r.now()) == "bad modbus register size"
    assert http.write(b, "8058d", "1", None, r.now()) == "bad modbus register size"
    refused(lambda: http.write(b, "8058q", "1", None, r.now()), 2)  # the size fits: not writable
    refused(lambda: http.write(b, "8093", "70000", None, r.now()), 3)
    refused(lambda: http.write(b, "8093", "-1", None, r.now()), 3)
    refused(lambda: http.write(b, "8093", None, "[90, 0, 1]", r.now()), 2)
    for value, values in (("x", None), (None, "[1, true]"), (None, "7"), (None, None), (None, "[]")):
        try:
            http.write(b, "8093", value, values, r.now())
            raise AssertionError((value, values))
        except ValueError:
            pass
    assert state(r) == before


def test_meters_read_zero_without_a_meter_and_refuse_writes():
    r = rig()
    meter = Registers(r.m, None, 2, "aabb-ccdd-eeff", "0.1.2")
    every = http.read(meter, "all", None)
    assert every["8003"] == 0x102 and every["8040"] == 3 and every["8062d"] == 0 and every["8045"] == 0
    refused(lambda: meter.write(8058, [0, 0, 0, 1], r.now()), 2)


def test_encoding_at_the_edges():
    # Multi-register values high word first, signed; on 32-bit a small int ends at 2^30.
    assert encode(-1, 2, S32) == [0xFFFF, 0xFFFF] and decode([0xFFFF, 0xFFFF], S32) == -1
    big = (1 << 30) - 1  # Wh: a GWh, more than any charger's meter will count
    assert decode(encode(big, 4, S64), S64) == big
    assert encode("ab", 2, STR) == [0x6162, 0] and decode([0x6162, 0x6300], STR) == "abc"
    assert encode("toolongforit", 2, STR) == [0x746F, 0x6F6C]


def test_the_settings_are_checked_together():
    r = rig()
    assert r.m.validate_settings({"CfosUrl": "http://192.168.2.111", "CfosDevId": ""}) == {
        "CfosDevId": "the HTTP input (CfosUrl) needs the device id the manager knows us by"}
    assert r.m.validate_settings({"CfosModbus": True, "CfosModbusPort": 80}) == {
        "CfosModbusPort": "80 is the WebAPI's port"}
    assert "CfosUrl" in r.m.validate_settings({"CfosUrl": "https://cfos"})  # plain http:// only
    assert r.m.validate_settings({"CfosModbus": True, "CfosUrl": "http://192.168.2.111:8080",
                                  "CfosPassword": "x", "CfosTimeoutS": 5, "CfosFallbackA": 0}) == {}
