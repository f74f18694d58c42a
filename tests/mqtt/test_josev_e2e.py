"""Josev's side of the API (firmware/mqtt/josev.py) against mosquitto: a
paho-mqtt client plays Josev, the charger runs in virtual time, and every
message we publish on cs/josev is checked against schemas/josev/."""

import asyncio
import json

import pytest

from apischemas import josev_validate
from live import Live

from charger import events as E
from mqtt import josev

REQ_ID = "79ac862e-d0a7-4eef-98b5-c827be3bd669"


def _josev(peer):
    p = peer(client_id="josev")
    p.subscribe(josev.UPDATES)
    return p


def _all_valid(p):
    msgs = [json.loads(m.payload) for m in p.on(josev.UPDATES)]
    for msg in msgs:
        josev_validate(msg)
    return msgs


def _request(p, name, data=None, msg_id=REQ_ID):
    p.publish(josev.REQUESTS, json.dumps({"id": msg_id, "name": name, "type": "request", "data": data or {}}))


def _limits(msg):
    return msg["data"]["evses"][0]["ac"]["max_current"]


def test_a_session_seen_by_josev(broker, peer):
    p = _josev(peer)

    async def main():
        live = await Live.start(broker.port, josev.Adapter, ChargeAutoStart=True, ChargeCurrent=16, Charge3Phase=True)
        await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cs_status_and_limits")
        # Josev boots and asks, as its API says it does once per start.
        await asyncio.to_thread(_request, p, "cs_status_and_limits")
        _, resp = await live.expect(p, josev.UPDATES, lambda d: d["type"] == "response")
        assert resp["id"] == REQ_ID and resp["name"] == "cs_status_and_limits"
        evse = resp["data"]["evses"][0]
        assert evse["evse_id"] == "EVSE" and evse["status_code"] == "evse_ready"
        assert evse["ac"] == {"max_current": {"l1": 16, "l2": 16, "l3": 16}, "nominal_voltage": 230, "rcd_error": False}
        await asyncio.to_thread(_request, p, "cs_parameters", msg_id="f29c5023-9766-401f-b7eb-dbb9c596e4f5")
        _, params = await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cs_parameters")
        assert params["id"] == "f29c5023-9766-401f-b7eb-dbb9c596e4f5"
        conn = params["data"]["parameters"][0]["connectors"][0]
        assert conn["services"]["ac"]["connector_type"] == "AC_three_phase_core"
        # The car: plugged in (B2 with the offer), asks for charge (C2), contactor closes.
        live.rig.vehicle("B")
        await live.run(1500)
        await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cp_status" and d["data"]["state"] == "B2")
        live.rig.vehicle("C")
        await live.run(1500)
        _, cp = await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cp_status" and d["data"]["state"] == "C2")
        assert cp["data"]["duty_cycle"] == 26.6  # 16 A: 266 permille
        await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cs_contactor_status" and d["data"]["status"] == "closed")
        # The car leaves: contactor open, CP back to A1.
        live.rig.vehicle("A")
        await live.run(1500)
        await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cs_contactor_status" and d["data"]["status"] == "opened")
        await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cp_status" and d["data"]["state"] == "A1")
        await asyncio.to_thread(_request, p, "cs_contactor_status", {"evse_id": "EVSE"}, "11111111-2222-4333-8444-555555555555")
        _, cont = await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cs_contactor_status" and d["type"] == "response")
        assert cont["id"] == "11111111-2222-4333-8444-555555555555" and cont["data"]["status"] == "opened"
        await live.stop()

    asyncio.run(main())
    msgs = _all_valid(p)
    states = [m["data"]["state"] for m in msgs if m["name"] == "cp_status"]
    assert states[:1] == ["A1"] and "C2" in states and states[-1] == "A1"
    ids = [m["id"] for m in msgs if m["type"] == "update"]
    assert len(ids) == len(set(ids))  # every update its own id


def test_load_management_lowering_the_current_reaches_josev_within_one_control_period(broker, peer):
    p = _josev(peer)

    async def main():
        live = await Live.start(broker.port, josev.Adapter, ChargeAutoStart=True, ChargeCurrent=16,
                                Charge3Phase=False, ControlStrategy=1)
        live.rig.vehicle("C")
        await live.run(3000)
        _, first = await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cs_status_and_limits")
        assert _limits(first) == {"l1": 16, "l2": 0, "l3": 0}  # one phase charging
        n = len(p.messages)
        live.rig.charger.manager.load_limit(9)  # what app.metering does each poll cycle
        await live.run(0)  # no control tick at all: the limit is published at once
        _, upd = await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cs_status_and_limits", after=n)
        assert upd["type"] == "update" and _limits(upd) == {"l1": 9, "l2": 0, "l3": 0}
        # A WebAPI current change: the settings slot is taken by the next tick (10 ms).
        n = len(p.messages)
        assert live.rig.charger.manager.set_settings({"ChargeCurrent": 7}) == {}
        await live.run(10)
        _, upd = await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cs_status_and_limits", after=n)
        assert _limits(upd)["l1"] == 7
        # An external limit (Josev's own slot, as another protocol would set it).
        n = len(p.messages)
        from charger.limits import OCPP

        assert live.rig.charger.manager.set_external_limit(OCPP, amps=6) is True
        await live.run(0)
        _, upd = await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cs_status_and_limits", after=n)
        assert _limits(upd)["l1"] == 6
        await live.stop()

    asyncio.run(main())
    _all_valid(p)


def test_stop_charging_from_josev_ends_the_transaction(broker, peer):
    p = _josev(peer)

    async def main():
        live = await Live.start(broker.port, josev.Adapter, ChargeAutoStart=True)
        m = live.rig.charger.manager
        live.rig.vehicle("C")
        await live.run(3000)
        assert m.transaction_active and m.kernel.relay
        live.rig.events()
        # The seed names the EVSE "id" in places: accepted as well as evse_id.
        await asyncio.to_thread(_request, p, "stop_charging", {"id": "EVSE"})
        _, resp = await live.expect(p, josev.UPDATES, lambda d: d["name"] == "stop_charging")
        assert resp["id"] == REQ_ID and resp["data"] == {"evse_id": "EVSE", "status": "accepted"}
        await live.run(10)  # the next tick: the offer is off, the transaction stopping
        await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cs_status_and_limits"
                          and d["data"]["evses"][0]["status_code"] == "evse_shutdown")
        live.rig.vehicle("B")  # the car obeys the PWM off
        await live.run(1000)
        assert ("TransactionFinished", E.REASON_REMOTE) in live.rig.events()
        await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cs_contactor_status" and d["data"]["status"] == "opened")
        # Nothing to stop now; and a request for another EVSE is not ours to answer.
        await asyncio.to_thread(_request, p, "stop_charging", {"evse_id": "EVSE"}, "22222222-2222-4333-8444-555555555555")
        _, resp = await live.expect(p, josev.UPDATES, lambda d: d["id"] == "22222222-2222-4333-8444-555555555555")
        assert resp["data"]["status"] == "rejected"
        await asyncio.to_thread(_request, p, "stop_charging", {"evse_id": "DE*SEV*E1"}, "33333333-2222-4333-8444-555555555555")
        await asyncio.to_thread(p.publish, josev.REQUESTS, b"{not json")
        await live.until(lambda: live.adapter.ignored == 2, "both ignored")
        await live.stop()

    asyncio.run(main())
    _all_valid(p)


def test_the_schemas_do_reject_what_is_wrong():
    good = {"id": REQ_ID, "name": "cs_status_and_limits", "type": "response", "data": {"evses": [
        {"evse_id": "E", "status_code": "evse_ready",
         "ac": {"max_current": {"l1": 16, "l2": 16, "l3": 16}, "nominal_voltage": 230, "rcd_error": False}}]}}
    josev_validate(good)
    bad_code = json.loads(json.dumps(good))
    bad_code["data"]["evses"][0]["status_code"] = "ready"
    no_rcd = json.loads(json.dumps(good))
    del no_rcd["data"]["evses"][0]["ac"]["rcd_error"]
    for bad in (bad_code, no_rcd, dict(good, id="not-a-uuid"), dict(good, type="update", name="cp_status")):
        with pytest.raises(Exception):
            josev_validate(bad)


def test_updates_refused_by_a_full_client_queue_are_sent_again(broker, peer):
    p = _josev(peer)

    async def main():
        live = await Live.start(broker.port, josev.Adapter, queue_len=1, ChargeAutoStart=True, ChargeCurrent=16)
        live.rig.vehicle("C")
        await live.run(3000)
        await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cs_contactor_status" and d["data"]["status"] == "closed")
        await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cp_status" and d["data"]["state"] == "C2")
        assert live.client.refused > 0
        await live.stop()

    asyncio.run(main())
    _all_valid(p)


def test_after_a_reconnection_josev_hears_the_state_again_unasked(broker, peer):
    async def main():
        live = await Live.start(broker.port, josev.Adapter, ChargeAutoStart=True, ChargeCurrent=13)
        live.rig.vehicle("C")
        await live.run(3000)
        broker.kill()
        await live.until(lambda: not live.client.connected, "the link lost")
        from charger.limits import OCPP

        assert live.rig.charger.manager.set_external_limit(OCPP, amps=10) is True  # while the link is down
        await live.run(10)
        broker.start()
        p = _josev(peer)  # subscribed before the charger can reconnect: this blocks its loop
        await live.until(lambda: live.client.connected, "reconnected")
        _, status = await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cs_status_and_limits")
        assert _limits(status)["l1"] == 10
        await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cp_status" and d["data"]["state"] == "C2")
        await live.expect(p, josev.UPDATES, lambda d: d["name"] == "cs_contactor_status" and d["data"]["status"] == "closed")
        await live.stop()
        return p

    _all_valid(asyncio.run(main()))
