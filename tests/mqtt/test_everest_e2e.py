"""EVerest's evse_manager consumer API (firmware/mqtt/everest.py) against
mosquitto: a paho-mqtt client plays an EVerest API module, the charger runs
in virtual time, and every payload we publish is checked against the
AsyncAPI file's message (apischemas.py)."""

import asyncio
import json

import pytest
from apischemas import everest_reply_validate, everest_validate
from live import Live

from mqtt import everest

BASE = everest.ROOT + "evse"
E2M = BASE + "/e2m/"
_n = [0]


def _module(peer):
    p = peer(client_id="everest-module")
    p.subscribe(E2M + "#")
    return p


def _request(p, name, payload=None, reply=True):
    """Send m2e/<name>; the topic its reply comes on."""
    _n[0] += 1
    reply_to = E2M + "%s/0000000%d-aaaa-4bbb-8ccc-dddddddddddd" % (name, _n[0])
    msg = {"headers": {"replyTo": reply_to}} if reply else {}
    if payload is not None:
        msg["payload"] = payload
    p.publish(BASE + "/m2e/" + name, json.dumps(msg))
    return reply_to


async def _call(live, p, name, payload=None):
    reply_to = await asyncio.to_thread(_request, p, name, payload)
    _, reply = await live.expect(p, reply_to)
    everest_reply_validate("send_request_" + name, reply)
    return reply


def _events(p):
    return [json.loads(m.payload) for m in p.on(E2M + "session_event")]


def _all_valid(p):
    """Every e2m payload (replies apart) against its message's schema."""
    seen = set()
    for m in p.messages:
        name = m.topic[len(E2M):]
        if "/" in name:
            continue  # a reply: checked where it was awaited
        everest_validate("e2m/" + name, json.loads(m.payload))
        seen.add(name)
    return seen


def test_a_session_seen_through_the_everest_api(broker, peer):
    p = _module(peer)

    async def main():
        live = await Live.start(broker.port, everest.Adapter, ChargeAutoStart=True, ChargeCurrent=16)
        evse = await _call(live, p, "get_evse")
        assert evse["id"] == 1 and evse["connectors"][0]["id"] == 1
        live.rig.vehicle("C")
        await live.run(3000)
        await live.expect(p, E2M + "session_event", lambda d: d["event"] == "ChargingStarted")
        _, info = await live.expect(p, E2M + "session_info", lambda d: d["state"] == "Charging")
        await live.run(60000)  # a minute of charging at 16 A
        _, info = await live.expect(p, E2M + "session_info", lambda d: d["session_duration_s"] >= 60)
        assert info["charged_energy_wh"] > 0 and info["latest_total_w"] > 3000
        live.rig.vehicle("A")
        await live.run(2000)
        await live.expect(p, E2M + "session_event", lambda d: d["event"] == "SessionFinished")
        await live.expect(p, E2M + "session_info", lambda d: d["state"] == "Unplugged")
        await live.stop()

    asyncio.run(main())
    seen = _all_valid(p)
    assert {"evse_id", "hw_capabilities", "enforced_limits", "session_info", "heartbeat",
            "supported_energy_transfer_modes", "ac_nr_of_phases_available", "selected_protocol"} <= seen
    evs = _events(p)
    names = [e["event"] for e in evs]
    assert names == ["SessionStarted", "Authorized", "TransactionStarted", "ChargingStarted",
                     "TransactionFinished", "SessionFinished"], names
    assert len({e["uuid"] for e in evs}) == 1  # one session
    started = evs[2]["transaction_started"]["meter_value"]["energy_Wh_import"]["total"]
    finished = evs[4]["transaction_finished"]
    assert finished["reason"] == "EVDisconnected"
    assert finished["meter_value"]["energy_Wh_import"]["total"] - started > 60  # 16 A for a minute: ~61 Wh


def test_pause_and_resume_through_everest(broker, peer):
    p = _module(peer)

    async def main():
        live = await Live.start(broker.port, everest.Adapter, ChargeAutoStart=True)
        m = live.rig.charger.manager
        assert await _call(live, p, "pause_charging") is False  # no transaction yet
        live.rig.vehicle("C")
        await live.run(3000)
        assert m.kernel.relay
        assert await _call(live, p, "pause_charging") is True
        await live.run(7000)  # the car sees no offer; the contactor opens
        assert not m.kernel.relay and m.transaction_active
        await live.expect(p, E2M + "session_event", lambda d: d["event"] == "ChargingPausedEVSE")
        await live.expect(p, E2M + "session_info", lambda d: d["state"] == "ChargingPausedEVSE")
        await live.expect(p, E2M + "enforced_limits",
                          lambda d: d["limits_root_side"]["ac_max_current_A"] == {"value": 0, "source": "Paused"})
        n = len(p.messages)
        assert await _call(live, p, "resume_charging") is True
        await live.run(3000)
        assert m.kernel.relay
        await live.expect(p, E2M + "session_event", lambda d: d["event"] == "ChargingStarted", after=n)
        assert await _call(live, p, "resume_charging") is False  # not paused
        await live.stop()

    asyncio.run(main())
    _all_valid(p)


def test_enable_disable_by_priority_and_stop_transaction(broker, peer):
    p = _module(peer)

    def src(state, priority, who="LocalAPI"):
        return {"connector_id": 0, "source": {"enable_source": who, "enable_state": state, "enable_priority": priority}}

    async def main():
        live = await Live.start(broker.port, everest.Adapter, ChargeAutoStart=True)
        m = live.rig.charger.manager
        assert await _call(live, p, "enable_disable", src("Disable", 10, "CSMS")) is False
        await live.expect(p, E2M + "session_event", lambda d: d["event"] == "Disabled")
        await live.expect(p, E2M + "session_info", lambda d: d["state"] == "Disabled")
        # A lower priority (higher number) cannot enable it; unassigning the CSMS's entry does.
        assert await _call(live, p, "enable_disable", src("Enable", 100)) is False
        assert await _call(live, p, "enable_disable", src("Unassigned", 10, "CSMS")) is True
        await live.expect(p, E2M + "session_event", lambda d: d["event"] == "Enabled")
        live.rig.vehicle("C")
        await live.run(3000)
        assert m.kernel.relay
        assert await _call(live, p, "stop_transaction", {"reason": "Remote"}) is True
        live.rig.vehicle("B")
        await live.run(2000)
        _, fin = await live.expect(p, E2M + "session_event", lambda d: d["event"] == "TransactionFinished")
        assert fin["transaction_finished"]["reason"] == "Remote"
        assert await _call(live, p, "stop_transaction", {"reason": "Remote"}) is False  # none runs
        await live.expect(p, E2M + "session_info", lambda d: d["state"] == "Finished")
        assert isinstance(await _call(live, p, "force_unlock", 1), bool)
        # No replyTo: done, not answered; a malformed request: ignored.
        await asyncio.to_thread(_request, p, "enable_disable", src("Disable", 5), False)
        await asyncio.to_thread(p.publish, BASE + "/m2e/stop_transaction", json.dumps({"payload": {"reason": "Bogus"}}))
        await asyncio.to_thread(p.publish, BASE + "/m2e/enable_disable", b"[1,2")
        await live.until(lambda: not m.enabled and live.adapter.ignored == 2, "disabled, two ignored")
        await live.stop()

    asyncio.run(main())
    _all_valid(p)


@pytest.mark.parametrize("reason, ours", [("Local", 3), ("DeAuthorized", 10), ("SOCLimitReached", 4), ("x", None)])
def test_stop_reasons(reason, ours):
    assert everest.stop_reason(reason) == ours


def test_the_schemas_do_reject_what_is_wrong():
    ok = {"uuid": "u", "event": "SessionStarted", "timestamp": "2026-12-04T16:00:00Z"}
    everest_validate("e2m/session_event", ok)
    for bad in (dict(ok, event="Started"), dict(ok, timestamp="yesterday"), {"uuid": "u", "event": "Enabled"},
                dict(ok, session_started={"reason": "Plugged", "meter_value": {}})):
        with pytest.raises(Exception):
            everest_validate("e2m/session_event", bad)
    with pytest.raises(Exception):
        everest_validate("e2m/session_info", {"state": "Charging", "charged_energy_wh": -1, "discharged_energy_wh": 0,
                                              "latest_total_w": 0, "session_duration_s": 0,
                                              "timestamp": "2026-12-04T16:00:00Z"})
    with pytest.raises(Exception):
        everest_reply_validate("send_request_pause_charging", "true")


def test_no_session_event_is_lost_to_a_full_client_queue(broker, peer):
    p = _module(peer)

    async def main():
        # A queue of 3: the burst at plug-in (four events in one tick, with the
        # session info and the limits) cannot all go at once.
        live = await Live.start(broker.port, everest.Adapter, queue_len=3, ChargeAutoStart=True)
        live.rig.vehicle("C")
        await live.run(3000)
        live.rig.vehicle("A")
        await live.run(2000)
        await live.expect(p, E2M + "session_event", lambda d: d["event"] == "SessionFinished")
        assert live.client.refused > 0  # the queue was full at times
        await live.stop()

    asyncio.run(main())
    assert [e["event"] for e in _events(p)] == ["SessionStarted", "Authorized", "TransactionStarted", "ChargingStarted",
                                                 "TransactionFinished", "SessionFinished"]


def test_after_the_broker_restarts_the_retained_facts_and_the_state_are_there_again(broker, peer):
    async def main():
        live = await Live.start(broker.port, everest.Adapter, ChargeAutoStart=True)
        live.rig.vehicle("C")
        await live.run(3000)
        broker.kill()  # no persistence: its retained messages die with it
        await live.until(lambda: not live.client.connected, "the link lost")
        broker.start()
        await live.until(lambda: live.client.connected and live.client.pending() == 0, "reconnected, all sent")
        late = await asyncio.to_thread(_module, peer)  # subscribes after the charger republished
        _, hw = await live.expect(late, E2M + "hw_capabilities")
        assert hw["max_current_A_import"] == 32
        assert late.on(E2M + "evse_id")[0].retain  # retained, from the broker's store
        await live.run(1000)
        _, info = await live.expect(late, E2M + "session_info")
        assert info["state"] == "Charging"
        await live.stop()
        return late

    late = asyncio.run(main())
    _all_valid(late)
