"""Reservation, end to end: ReserveNow and CancelReservation from the real
central system (tests/ocpp/central_system.py) to the real firmware
(``evsectl sim``, MicroPython unix port). Names follow OCA's test cases:
TC_046_1 (used by its id tag, another refused without an Authorize),
TC_046_2 (used by a remote start), TC_047 (expires), TC_048_x (Faulted,
Occupied, Unavailable, Rejected), TC_051/052 (cancelled), TC_053 (used
through its parentIdTag)."""

import time
from datetime import datetime, timedelta, timezone

from test_core_auth import _card, _charging, _refused, _wait
from test_core_e2e import central  # noqa: F401 (the fixture: a central system process)
from test_core_e2e import ocpp_charger


def _in(seconds):
    """An expiryDate ``seconds`` from now (the charger keeps the central system's time)."""
    t = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return t.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _reserve(cs, rid, tag, seconds=300, connector=1, parent=None):
    payload = {"connectorId": connector, "expiryDate": _in(seconds), "idTag": tag, "reservationId": rid}
    if parent:
        payload["parentIdTag"] = parent
    return cs.call("ReserveNow", payload)["result"]["status"]


def _status(cs, status, timeout=20):
    return cs.got("StatusNotification", timeout=timeout, where=lambda p: p["status"] == status)


def test_tc_047_a_reservation_that_is_not_used_expires(sim_factory, central):
    cs = central()
    sim = ocpp_charger(sim_factory, cs)  # free mode: a reservation holds it anyway
    _status(cs, "Available")
    assert _reserve(cs, 1, "RES1", seconds=4) == "Accepted"
    reserved = time.monotonic()
    _status(cs, "Reserved")
    _status(cs, "Available", timeout=15)
    assert time.monotonic() - reserved >= 2  # at its expiryDate (whole seconds), not at once
    # Over: anyone charges again (in free mode, at plug-in), and no reservationId is sent.
    sim.client.vehicle(State="C")
    start = cs.got("StartTransaction")["payload"]
    assert "reservation_id" not in start and start["id_tag"] == "FREE"
    assert cs.call("CancelReservation", {"reservationId": 1})["result"]["status"] == "Rejected"  # TC_052


def test_tc_046_1_a_reservation_is_used_by_its_id_tag_only(sim_factory, central):
    cs = central()
    sim = ocpp_charger(sim_factory, cs, ChargeAutoStart=False)
    _status(cs, "Available")
    assert _reserve(cs, 7, "RES1") == "Accepted"
    _status(cs, "Reserved")
    _refused(sim, "OTHER1", "reserved for another id tag")
    cs.drain()
    assert not cs.calls("Authorize")  # refused at the charger: not asked (TC_046_1 step 5)
    assert cs.call("RemoteStartTransaction", {"idTag": "OTHER1", "connectorId": 1})["result"]["status"] == "Rejected"
    sim.client.vehicle(State="C")  # someone plugs in: it does not charge
    _status(cs, "Preparing")
    time.sleep(1)
    assert not sim.client.board()["RelayClosed"] and not cs.calls("StartTransaction")
    _card(sim, "RES1")
    assert cs.got("Authorize")["payload"]["id_tag"] == "RES1"
    start = cs.got("StartTransaction")["payload"]
    assert (start["id_tag"], start["reservation_id"]) == ("RES1", 7)
    _charging(sim)
    # Occupied while charging (TC_048_2); nothing left to cancel (TC_052).
    assert _reserve(cs, 8, "RES2") == "Occupied"
    assert cs.call("CancelReservation", {"reservationId": 7})["result"]["status"] == "Rejected"
    _card(sim, "RES1")
    cs.got("StopTransaction")
    sim.client.vehicle(State="A")
    _status(cs, "Available")
    # The next transaction is nobody's reservation.
    assert cs.call("RemoteStartTransaction", {"idTag": "OTHER1", "connectorId": 1})["result"]["status"] == "Accepted"
    sim.client.vehicle(State="C")
    second = cs.got("StartTransaction")["payload"]
    assert second["id_tag"] == "OTHER1" and "reservation_id" not in second


def test_tc_053_a_reservation_is_used_by_a_tag_with_its_parent(sim_factory, central):
    cs = central(parents={"CAR2": "FLEET", "CAR3": "ELSEWHERE"})
    sim = ocpp_charger(sim_factory, cs, ChargeAutoStart=False)
    _status(cs, "Available")
    assert _reserve(cs, 3, "CAR1", parent="FLEET") == "Accepted"
    _status(cs, "Reserved")
    _refused(sim, "CAR3", "Accepted, parent ELSEWHERE (reserved for FLEET)")  # asked: another parent
    assert cs.got("Authorize")["payload"]["id_tag"] == "CAR3"
    _card(sim, "CAR2")  # asked: the reservation's parent
    assert cs.got("Authorize", where=lambda p: p["id_tag"] == "CAR2")
    _status(cs, "Preparing")
    sim.client.vehicle(State="C")
    start = cs.got("StartTransaction")["payload"]
    assert (start["id_tag"], start["reservation_id"]) == ("CAR2", 3)
    _charging(sim)


def test_tc_048_051_refusals_and_a_cancelled_reservation(sim_factory, central):
    cs = central()
    sim = ocpp_charger(sim_factory, cs, ChargeAutoStart=False)
    _status(cs, "Available")
    # Rejected (TC_048_4): connector 0 (ReserveConnectorZeroSupported false, as Eaton), one we do
    # not have, an expiryDate past.
    shown = cs.call("GetConfiguration", {"key": ["ReserveConnectorZeroSupported"]})["result"]["configuration_key"]
    assert shown == [{"key": "ReserveConnectorZeroSupported", "readonly": True, "value": "false"}]
    assert _reserve(cs, 1, "RES1", connector=0) == "Rejected"
    assert _reserve(cs, 1, "RES1", connector=2) == "Rejected"
    assert _reserve(cs, 1, "RES1", seconds=-60) == "Rejected"
    # Cancelled (TC_051): Available again, and anyone may charge.
    assert _reserve(cs, 1, "RES1") == "Accepted"
    _status(cs, "Reserved")
    assert _reserve(cs, 2, "RES2") == "Occupied"  # reserved already, for someone else
    assert _reserve(cs, 1, "RES3") == "Accepted"  # the same id: replaced
    assert cs.call("CancelReservation", {"reservationId": 1})["result"]["status"] == "Accepted"
    _status(cs, "Available")
    # Unavailable (TC_048_3), then Faulted (TC_048_1).
    assert cs.call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})["result"]["status"] == "Accepted"
    assert _reserve(cs, 4, "RES1") == "Unavailable"
    assert cs.call("ChangeAvailability", {"connectorId": 1, "type": "Operative"})["result"]["status"] == "Accepted"
    sim.client.faults(Epo=True)
    _status(cs, "Faulted")
    assert _reserve(cs, 5, "RES1") == "Faulted"
    _wait("no reservation made", lambda: sim.client.ok(sim.client.get("/sim/v1/Ocpp"))["Status"] == "Faulted")


def test_tc_046_2_a_remote_start_for_the_reserved_tag_uses_the_reservation(sim_factory, central):
    cs = central()
    sim = ocpp_charger(sim_factory, cs, ChargeAutoStart=False)
    _status(cs, "Available")
    assert _reserve(cs, 11, "RES1") == "Accepted"
    _status(cs, "Reserved")
    assert cs.call("RemoteStartTransaction", {"idTag": "RES1", "connectorId": 1})["result"]["status"] == "Accepted"
    _status(cs, "Preparing")  # authorized, waiting for the vehicle: the reservation is used
    sim.client.vehicle(State="C")
    start = cs.got("StartTransaction")["payload"]
    assert (start["id_tag"], start["reservation_id"]) == ("RES1", 11)
