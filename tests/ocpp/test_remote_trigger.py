"""Remote Trigger, end to end: TriggerMessage from the real central system
(the ``ocpp`` package, tests/ocpp/central_system.py) to the real firmware
(``evsectl sim``, MicroPython unix port). Each requested message follows
the TriggerMessage's answer on the wire ("after" of the answer: how many
CALLs of the charger had arrived before it; "n" of the triggered one: its
place among them), as OCPP 1.6 section 5.17 says; a connector this charger
does not have is Rejected and nothing is sent; a message it does not send
on request is NotImplemented. Names follow OCA's TC_054 and TC_055."""

import time

import pytest

from test_core_e2e import central  # noqa: F401 (the fixture: a central system process)
from test_core_e2e import ocpp_charger


def _trigger(cs, what, connector=None, expect="Accepted", unchecked=False):
    payload = {"requestedMessage": what}
    if connector is not None:
        payload["connectorId"] = connector
    answer = cs.call("TriggerMessage", payload, unchecked=unchecked)
    assert answer["result"] is not None, answer
    assert answer["result"]["status"] == expect, (what, connector, answer)
    return answer["after"]


def _follows(cs, what, after, where=None):
    """The triggered ``what``, which came after the answer (``after``)."""
    got = cs.got(what, timeout=15, where=where)
    assert got["n"] > after, (what, got, after)
    return got["payload"]


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
def test_tc_054_every_message_is_sent_after_its_trigger_is_answered(sim_factory, central, interpreter):
    cs = central()
    s = ocpp_charger(sim_factory, cs, interpreter=interpreter)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")

    after = _trigger(cs, "BootNotification")
    boot = _follows(cs, "BootNotification", after)
    assert boot["charge_point_vendor"] == "open-evse" and boot["firmware_version"]

    _follows(cs, "Heartbeat", _trigger(cs, "Heartbeat"))
    assert _follows(cs, "DiagnosticsStatusNotification", _trigger(cs, "DiagnosticsStatusNotification")) == \
        {"status": "Idle"}  # no upload runs
    assert _follows(cs, "FirmwareStatusNotification", _trigger(cs, "FirmwareStatusNotification")) == \
        {"status": "Idle"}

    # StatusNotification: of the connector asked for, or of every one (0 is the charge point).
    after = _trigger(cs, "StatusNotification", 1)
    assert _follows(cs, "StatusNotification", after)["connector_id"] == 1
    after = _trigger(cs, "StatusNotification", 0)
    zero = _follows(cs, "StatusNotification", after)
    assert (zero["connector_id"], zero["status"], zero["error_code"]) == (0, "Available", "NoError")
    after = _trigger(cs, "StatusNotification")
    both = [_follows(cs, "StatusNotification", after) for _ in range(2)]
    assert sorted(p["connector_id"] for p in both) == [0, 1] and {p["status"] for p in both} == {"Available"}

    # MeterValues outside a transaction: none named; in one: its id.
    after = _trigger(cs, "MeterValues")
    values = _follows(cs, "MeterValues", after)
    assert values["connector_id"] == 1 and "transaction_id" not in values
    sampled = values["meter_value"][0]["sampled_value"]
    assert [(v["measurand"], v["context"]) for v in sampled] == [("Energy.Active.Import.Register", "Trigger")]
    s.client.vehicle(State="C")
    tx = cs.got("StartTransaction")["tx"]
    cs.got("StatusNotification", where=lambda p: p["status"] == "Charging")
    after = _trigger(cs, "MeterValues", 1)
    assert _follows(cs, "MeterValues", after)["transaction_id"] == tx
    after = _trigger(cs, "StatusNotification", 1)
    assert _follows(cs, "StatusNotification", after)["status"] == "Charging"


def test_tc_055_a_connector_it_does_not_have_is_rejected_and_nothing_is_sent(sim_factory, central):
    cs = central()
    ocpp_charger(sim_factory, cs)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    _trigger(cs, "MeterValues", 2, expect="Rejected")  # NumberOfConnectors + 1
    _trigger(cs, "StatusNotification", 2, expect="Rejected")
    # A message that TriggerMessage cannot ask for (past the schema, as a faulty central system would).
    _trigger(cs, "StopTransaction", expect="NotImplemented", unchecked=True)
    # The next trigger is answered, and its message is the next one sent: nothing of the refused ones.
    after = _trigger(cs, "Heartbeat")
    _follows(cs, "Heartbeat", after)
    time.sleep(1)
    cs.drain()
    assert not cs.calls("MeterValues") and len(cs.calls("StatusNotification")) == 1
