"""How the Josev and EVerest adapters translate the charger: run alike under
CPython (test_mapping.py) and the MicroPython unix ports
(test_mapping_micropython.py, via tests/mpy_runner.py). The charger is
tests/charger/rig.py's (the real one, simulated board, virtual time); the
MQTT client is the real one, never connected (nothing is published here)."""

import json
import sys

_tests = __file__[: __file__.rfind("/")]
_tests = _tests[: _tests.rfind("/")]  # rig.py finds the board file from its own path: no ".."
if _tests + "/charger" not in sys.path:
    sys.path.insert(0, _tests + "/charger")

from rig import Rig  # noqa: E402

from charger import events as E  # noqa: E402
from mqtt import everest, josev  # noqa: E402
from mqtt.client import MqttClient  # noqa: E402


def _adapters(**settings):
    r = Rig(**settings)
    c = MqttClient("127.0.0.1", 1, "mapping")
    return r, josev.Adapter(r.charger, c, "evse"), everest.Adapter(r.charger, c, "site/evse")


def test_josev_status_code_and_rcd_error_follow_the_charger():
    r, j, _ = _adapters()
    m = r.m
    assert josev.status_code(m) == "evse_ready" and not josev.rcd_error(m)
    m.disable("test")
    assert josev.status_code(m) == "evse_not_ready"
    m.enable("test")
    r.fault("Rcm")
    r.run(200)
    assert josev.status_code(m) == "evse_malfunction" and josev.rcd_error(m)
    r2 = Rig()
    r2.fault("Epo")
    r2.run(200)
    assert josev.status_code(r2.m) == "evse_emergency_shutdown" and not josev.rcd_error(r2.m)


def test_josev_limits_per_phase_from_the_arbiter():
    r, j, _ = _adapters(ChargeCurrent=16, Charge3Phase=True, ChargeAutoStart=True)
    m = r.m
    assert josev.max_current(m) == {"l1": 16, "l2": 16, "l3": 16}
    m.set_settings({"Charge3Phase": False, "ChargeCurrent": 10})
    r.run(10)
    assert josev.max_current(m) == {"l1": 10, "l2": 0, "l3": 0}
    r.vehicle("C")
    r.run(3000)
    assert m.pause_charging() is True
    assert josev.max_current(m)["l1"] == 0  # paused: nothing offered
    body = j.answer("cs_status_and_limits", {})
    assert body["evses"][0]["ac"]["max_current"]["l1"] == 0
    json.dumps(body)


def test_josev_cp_states():
    r, j, _ = _adapters(ChargeAutoStart=False, ChargeCurrent=16)
    m = r.m
    assert josev.cp_state(m) == "A1" and josev.contactor_status(m) == "opened"
    r.vehicle("B")
    r.run(1500)
    assert josev.cp_state(m) == "B1"  # connected, not authorized: no offer
    m.authorize(None)
    r.run(1500)
    assert josev.cp_state(m) == "B2"
    r.vehicle("C")
    r.run(1500)
    assert josev.cp_state(m) == "C2" and josev.contactor_status(m) == "closed"
    assert josev.cp_status(m, "E")["duty_cycle"] == 26.6  # 16 A: 266 permille


def test_josev_sees_a_welded_contactor_and_state_f():
    r, j, _ = _adapters(ChargeAutoStart=True)
    r.fault("RelayWeld")
    r.run(1500)
    assert josev.contactor_status(r.m) == "error"
    assert josev.cp_state(r.m) == "F" and josev.status_code(r.m) == "evse_malfunction"


def test_josev_requests_name_our_evse_by_evse_id_or_id():
    r, j, _ = _adapters(DeviceName="DE*SEV*E1")
    assert j.evse_id == "DE*SEV*E1"
    assert not josev._names_other_evse({"evse_id": "DE*SEV*E1"}, j.evse_id)
    assert not josev._names_other_evse({"id": "DE*SEV*E1"}, j.evse_id)
    assert not josev._names_other_evse({}, j.evse_id)
    assert josev._names_other_evse({"id": "DE*SEV*E2"}, j.evse_id)
    assert j.answer("stop_charging", {})["status"] == "rejected"  # no transaction
    assert j.answer("no_such_message", {}) is None


def test_everest_topics_states_and_reasons():
    r, _, ev = _adapters(ChargeAutoStart=True)
    m = r.m
    assert ev.base == "everest_api/1/evse_manager_consumer/site_evse"
    assert everest.evse_state(m) == "Unplugged"
    r.vehicle("C")
    r.run(3000)
    assert everest.evse_state(m) == "Charging"
    m.pause_charging()
    r.run(10)
    assert everest.evse_state(m) == "ChargingPausedEVSE"
    assert ev.answer("resume_charging", None) is True
    assert ev.answer("stop_transaction", {"reason": "Remote"}) is True
    r.run(10)
    assert everest.evse_state(m) == "FinishedEVSE"
    assert everest.stop_reason("EVDisconnected") == E.REASON_EV_DISCONNECTED
    assert everest.stop_reason("Timeout") == E.REASON_OTHER
    assert everest.ampacity(0) == "None" and everest.ampacity(20) == "A_20" and everest.ampacity(63) == "A_63_3ph_70_1ph"
    src = {"enable_source": "CSMS", "enable_state": "Disable", "enable_priority": 5}
    assert ev.answer("enable_disable", {"connector_id": 0, "source": src}) is False
    assert everest.evse_state(m) == "Disabled"
    src["enable_state"] = "Unassigned"
    assert ev.answer("enable_disable", {"connector_id": 0, "source": src}) is True
    src["enable_state"] = "Maybe"
    assert ev.answer("enable_disable", {"connector_id": 0, "source": src}) is None
    src.update(enable_state="Disable", enable_source="Neighbour")  # not one of EVerest's sources
    assert ev.answer("enable_disable", {"connector_id": 0, "source": src}) is None and m.enabled


def test_everest_session_events_carry_their_data():
    r, _, ev = _adapters(ChargeAutoStart=True)
    assert ev.session_event(E.ERROR_RAISED, 3) is None  # EVerest's error framework, not a session event
    start = ev.session_event(E.SESSION_STARTED, 0)
    assert start["event"] == "SessionStarted" and start["session_started"]["reason"] == "EVConnected"
    tx = ev.session_event(E.TRANSACTION_STARTED, 0)
    assert tx["uuid"] == start["uuid"]
    assert tx["transaction_started"]["id_tag"]["id_token"]["type"] == "NoAuthorization"
    fin = ev.session_event(E.TRANSACTION_FINISHED, E.REASON_REMOTE)
    assert fin["transaction_finished"]["reason"] == "Remote"
    assert "energy_Wh_import" in fin["transaction_finished"]["meter_value"]
    assert len(everest.timestamp(0)) == 20 and everest.timestamp(86400 * 365) == "1971-01-01T00:00:00Z"
    u = everest.new_uuid()
    assert len(u) == 36 and u[14] == "4" and u[19] in "89ab"
    json.dumps(fin)


def test_the_largest_messages_fit_the_buffers_the_adapters_ask_for():
    r = Rig(ChargeAutoStart=True, DeviceName="D" * 32)
    c = MqttClient("127.0.0.1", 1, "mapping")
    prefix = "p" * 64  # MqttPrefix at its longest
    j = josev.Adapter(r.charger, c, prefix)
    ev = everest.Adapter(r.charger, c, prefix)
    r.m.authorize("T" * 36)  # the longest id tag
    # Meter 1's readings, every field present and long.
    r.m.meter_reading = lambda n: (123456.789, 22080.5, [32.01, 32.02, 32.03], [230.1, 230.2, 230.3])
    overhead = 2 + 2 + 5  # fixed header, topic length, packet id (client.publish's reckoning)
    for code in range(len(E.NAMES)):
        p = ev.session_event(code, E.REASON_UNLOCK_COMMAND)
        if p is not None:
            assert overhead + len(ev.base + "/e2m/session_event") + len(json.dumps(p)) <= everest.MAX_PACKET, E.NAMES[code]
    assert overhead + len(ev.base + "/e2m/enforced_limits") + len(json.dumps(ev.enforced_limits())) <= everest.MAX_PACKET
    for name in ("cs_status_and_limits", "cs_parameters", "cs_contactor_status", "stop_charging"):
        msg = josev.envelope("f29c5023-9766-401f-b7eb-dbb9c596e4f5", name, "response", j.answer(name, {}))
        assert overhead + len(josev.UPDATES) + len(msg) <= josev.MAX_PACKET, name
