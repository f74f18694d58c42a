"""Eaton Green Motion's vendor extensions, end to end against the real
central system (the ``ocpp`` package) and the real firmware (``evsectl
sim``, MicroPython unix port): its DataTransfer messages, switched by
EnabledDataTransfer, and its action keys FactoryReset, RSSI and NetworkStatus."""

import json
import time

import pytest

from simclient import DOWN
from test_core_e2e import central  # noqa: F401 (the fixture: a central system process)
from test_core_e2e import ocpp_charger


def data_transfers(cs):
    cs.drain()
    return [(e["payload"]["vendor_id"], e["payload"]["message_id"], e["payload"].get("data"))
            for e in cs.seen if e.get("got") == "DataTransfer"]


def change(cs, key, value):
    return cs.call("ChangeConfiguration", {"key": key, "value": value})["result"]["status"]


def session(s, cs, end=None):
    s.client.vehicle(State="C")
    cs.got("StatusNotification", where=lambda p: p["status"] == "Charging")
    (end or (lambda: s.client.vehicle(State="A")))()
    return cs.got("StopTransaction")["payload"]


def test_data_transfer_messages_follow_enabled_data_transfer(sim_factory, central):
    cs = central()
    s = ocpp_charger(sim_factory, cs)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    keys = {k["key"]: k.get("value") for k in cs.call("GetConfiguration", {"key": ["EnabledDataTransfer"]})
            ["result"]["configuration_key"]}
    assert keys == {"EnabledDataTransfer": ""}  # none by default: nothing is sent
    session(s, cs)
    assert data_transfers(cs) == []
    assert change(cs, "EnabledDataTransfer", "StopSource,PlugType,RemoteShutOff,ChargeStopError") == "Accepted"

    session(s, cs)
    cs.got("DataTransfer", where=lambda p: p["message_id"] == "StopSource")
    assert data_transfers(cs) == [("GreenMotion", "PlugType", "Type2Cable"),  # ChargerMode: case C
                                  ("GreenMotion", "StopSource", "EVDisconnected")]

    assert cs.call("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})["result"]["status"] == "Accepted"
    cs.got("DataTransfer", where=lambda p: p["message_id"] == "RemoteShutOff" and p["data"] == "Inoperative")
    assert cs.call("ChangeAvailability", {"connectorId": 0, "type": "Operative"})["result"]["status"] == "Accepted"
    cs.got("DataTransfer", where=lambda p: p["message_id"] == "RemoteShutOff" and p["data"] == "Operative")

    assert change(cs, "EnabledDataTransfer", "ChargeError") == "Rejected"  # a DC charger's
    assert change(cs, "EnabledDataTransfer", "ChargeStopError") == "Accepted"
    # A session that a fault ends: ChargeStopError says which; no PlugType, no StopSource now.
    before = len(data_transfers(cs))
    session(s, cs, end=lambda: s.client.faults(Epo=True))
    error = cs.got("DataTransfer", where=lambda p: p["message_id"] == "ChargeStopError")["payload"]
    assert json.loads(error["data"])["errorCode"] == "OtherError"
    assert [m for _, m, _ in data_transfers(cs)[before:]] == ["ChargeStopError"]

    assert change(cs, "EnabledDataTransfer", "") == "Accepted"
    before = len(data_transfers(cs))
    assert cs.call("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})["result"]["status"] == "Accepted"
    time.sleep(1.5)  # RemoteShutOff came within milliseconds above
    assert data_transfers(cs)[before:] == []

    # The central system's own DataTransfer: nothing this charger knows.
    for vendor, status in (("GreenMotion", "UnknownMessageId"), ("SomeoneElse", "UnknownVendorId")):
        answer = cs.call("DataTransfer", {"vendorId": vendor, "messageId": "RemoteShutOff"})["result"]
        assert answer["status"] == status


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
def test_rssi_and_network_status_are_answered_when_named(sim_factory, central, interpreter):
    cs = central()
    ocpp_charger(sim_factory, cs, interpreter=interpreter)
    cs.got("StatusNotification")
    every = [k["key"] for k in cs.call("GetConfiguration", {})["result"]["configuration_key"]]
    assert not {"RSSI", "NetworkStatus", "FactoryReset"} & set(every)  # Eaton: never in the full list
    got = cs.call("GetConfiguration", {"key": ["RSSI", "NetworkStatus", "FactoryReset", "Nope"]})["result"]
    keys = {k["key"]: k for k in got["configuration_key"]}
    assert got["unknown_key"] == ["Nope"]
    assert keys["RSSI"] == {"key": "RSSI", "readonly": True, "value": "-49"}  # the simulated WiFi's
    assert json.loads(keys["NetworkStatus"]["value"]) == [
        {"link": "wlan0", "state": "connected", "ipv4": "127.0.0.1", "mac": "02:00:00:00:00:01", "enabled": True,
         "rx-level": -49}]
    assert keys["FactoryReset"] == {"key": "FactoryReset", "readonly": False, "value": "Inactive"}
    assert change(cs, "RSSI", "-10") == "Rejected"
    assert change(cs, "FactoryReset", "Soon") == "Rejected"


def factory_state(cs):
    keys = cs.call("GetConfiguration", {"key": ["FactoryReset"]})["result"]["configuration_key"]
    return keys[0]["value"]


def test_factory_reset_now_keeps_the_running_transactions_stop(sim_factory, central):
    cs = central()
    s = ocpp_charger(sim_factory, cs, OcppAuthKey="topsecretpassword", ChargeCurrent=10)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    change(cs, "HeartbeatInterval", "300")
    assert change(cs, "FactoryReset", "Active") == "Accepted" and factory_state(cs) == "Active"
    assert change(cs, "FactoryReset", "Inactive") == "Accepted" and factory_state(cs) == "Inactive"

    s.client.vehicle(State="C")
    tx = cs.got("StartTransaction")["tx"]
    cs.got("StatusNotification", where=lambda p: p["status"] == "Charging")
    cs.send({"behaviour": {"silent": ["StopTransaction"]}})  # the Stop stays in the journal
    assert change(cs, "FactoryReset", "Active-now") == "Accepted"
    cs.got("StopTransaction")  # sent, not answered: it stays in the journal
    cs.next(lambda e: "disconnected" in e)  # the restart
    dev = s.device_dir
    for erased in ("config.json", "ocpp.json", "ocpp.auth", "ocpp.list"):
        assert not (dev / erased).exists(), erased
    deadline = time.monotonic() + 20
    while True:  # the firmware back up, with the default settings
        try:
            if s.client.ok(s.client.get("/webapi/v1/SystemConfig"))["ChargeCurrent"] != 10:
                break
        except DOWN:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert (dev / "ocpp.jnl").exists()

    # Configured for the central system again: the Stop the reset kept is sent.
    cs.send({"behaviour": {"silent": []}})
    s.stop()
    (dev / "config.json").write_text(json.dumps(dict(OcppEndpoint="ws://127.0.0.1:%d/ocpp" % cs.port,
                                                     OcppBoxId="CP1", OcppSecurityProfile=0)))
    s.start()
    stop = cs.got("StopTransaction", where=lambda p: p["transaction_id"] == tx)["payload"]
    assert stop["reason"] == "Reboot"
