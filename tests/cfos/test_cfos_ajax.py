"""The HTTP input's report and answer (cfos.ajax), on a real charger (the
Rig of tests/charger). Runs under CPython and both MicroPython ports
(test_cfos_micropython.py); the exchange itself is test_cfos_ajax_e2e.py's."""

import sys

_TESTS = __file__[: __file__.rfind("/")]
_TESTS = _TESTS[: _TESTS.rfind("/")]
if _TESTS + "/charger" not in sys.path:
    sys.path.insert(0, _TESTS + "/charger")

from rig import Rig  # noqa: E402

from cfos.ajax import parse_answer, report  # noqa: E402

GOOD = b'{"device_enabled": true, "charging_enabled": true, "paused": false, "charging_current": 10000}'


def test_the_report_in_the_seeds_units():
    r = Rig(ChargeCurrent=20, Charge3Phase=False, VentilationAvailable=True)
    assert report(r.m, "M") == {"state": 1, "max_charging_current": 20000, "current": [0, 0, 0],
                                "model": "M", "rfid": ""}
    r.vehicle("B")
    r.run(1000)
    assert report(r.m, "M")["state"] == 2
    r.vehicle("C")
    r.run(2000)
    body = report(r.m, "M")
    assert body["state"] == 3 and body["current"][0] > 19000 and body["current"][1:] == [0, 0]  # one phase
    r.vehicle("D")
    r.run(1000)
    assert report(r.m, "M")["state"] == 4  # charging, ventilated
    r.fault("OverTemp")
    r.run(2000)
    assert report(r.m, "M")["state"] == 5  # an error


def test_the_rfid_of_the_authorization():
    r = Rig(ChargeAutoStart=False)
    r.m.authorize("04A2B3C4")
    assert report(r.m, "M")["rfid"] == "04A2B3C4"


def test_an_answer_is_the_seeds_object_or_nothing():
    assert parse_answer(GOOD) == (100, True)
    assert parse_answer(GOOD.replace(b"10000", b"13599")) == (135, True)  # 0.1 A, rounded down
    assert parse_answer(GOOD.replace(b'"paused": false', b'"paused": true')) == (0, True)
    assert parse_answer(GOOD.replace(b'"charging_enabled": true', b'"charging_enabled": false')) == (0, True)
    assert parse_answer(GOOD.replace(b'"device_enabled": true', b'"device_enabled": false')) == (100, False)
    for garbage in (b"", b"<html>", b"[1]", b"null", b'{"charging_current": 10000}',
                    GOOD.replace(b"true", b"1"), GOOD.replace(b"10000", b"-1"), GOOD.replace(b"10000", b"80001"),
                    GOOD.replace(b"10000", b'"10000"'), GOOD.replace(b"10000", b"true"), b"\xff\xfe"):
        assert parse_answer(garbage) is None, garbage
