"""EvseManager on a real charger (app.runtime.Charger, simulated board,
virtual time): every command, the event sequences of free and authorized
sessions, stops with reasons, enable/disable priorities, external limits
with timeout and fallback, reservations, and a step that allocates nothing."""

from charger import events as E
from charger import limits as L
from evse import states as S
from locked import heap_locked
from rig import Rig

FREE = ["SessionStarted", "Authorized", "TransactionStarted", "ChargingStarted"]


def test_a_free_mode_session_from_plug_in_to_unplug():
    r = Rig()
    assert r.names() == []
    assert not r.m.connected and not r.m.transaction_active and r.m.enabled
    r.vehicle("C")
    r.run(2000)
    assert r.events() == [("SessionStarted", 0), ("Authorized", 0), ("TransactionStarted", 0), ("ChargingStarted", 0)]
    assert r.m.charging and r.m.transaction_active and r.m.authorized and r.m.id_tag is None
    assert r.m.state == S.CHARGE_C and r.m.offered_a == 16 and r.m.limit_source == "Settings"
    r.run(60000)
    assert r.m.session.duration_s >= 60 and r.m.session.energy_ws > 0
    r.vehicle("B")  # the vehicle is full
    r.run(1000)
    assert r.names() == ["ChargingPausedEV"]
    r.vehicle("A")
    r.run(1000)
    assert r.events() == [("TransactionFinished", E.REASON_EV_DISCONNECTED), ("SessionFinished", 0)]
    assert not r.m.transaction_active and not r.m.authorized


def test_an_authorized_session_waits_for_authorize():
    r = Rig(ChargeAutoStart=False)
    r.vehicle("C")
    r.run(3000)
    assert r.names() == ["SessionStarted"]
    assert not r.m.charging and r.m.offered_a == 0 and not r.m.transaction_active
    assert r.m.authorize("04A2B3C4") is True
    assert r.m.authorized and r.m.id_tag == "04A2B3C4"
    r.run(1000)
    assert r.events() == [("Authorized", 1), ("TransactionStarted", 0), ("ChargingStarted", 0)]
    assert r.m.authorize("OTHER") == "a transaction is running"
    assert r.m.id_tag == "04A2B3C4"


def test_authorize_before_the_vehicle_comes():
    r = Rig(ChargeAutoStart=False)
    assert r.m.authorize("TAG1") is True
    r.run(500)
    assert r.names() == ["Authorized"]
    r.vehicle("C")
    r.run(2000)
    assert r.names() == ["SessionStarted", "TransactionStarted", "ChargingStarted"]
    assert r.m.id_tag == "TAG1"


def test_withdrawn_authorization_starts_nothing():
    r = Rig(ChargeAutoStart=False)
    assert r.m.withdraw_authorization() == "no authorization is waiting for a transaction"
    r.m.authorize("TAG1")
    assert r.m.withdraw_authorization() is True
    assert not r.m.authorized
    r.vehicle("C")
    r.run(2000)
    assert r.names() == ["Authorized", "Deauthorized", "SessionStarted"]
    assert not r.m.charging


def test_stop_transaction_stops_charging_and_reports_the_reason_once_the_contactor_is_open():
    r = Rig()
    r.vehicle("C")
    r.run(2000)
    r.events()
    assert r.m.stop_transaction(E.REASON_REMOTE) is True
    assert r.m.stop_transaction(E.REASON_REMOTE) == "no transaction"  # already stopping
    r.run(100)
    assert r.names() == ["StoppingCharging"]
    assert r.m.offered_a == 0 and r.m.transaction_active and r.m.stopping
    # The vehicle ignores the PWM going off: the kernel opens after 6 s.
    r.run(5000)
    assert r.m.charging and r.names() == []
    r.run(1500)
    assert not r.m.charging
    assert r.events() == [("TransactionFinished", E.REASON_REMOTE)]
    assert not r.m.transaction_active and r.m.connected
    r.vehicle("A")
    r.run(500)
    assert r.names() == ["SessionFinished"]


def test_the_web_toggle_stops_locally_and_starts_again_in_the_same_session():
    r = Rig()
    r.vehicle("C")
    r.run(2000)
    r.events()
    assert r.m.start_refusal() is None
    assert r.m.toggle_start() is True and not r.m.started
    r.vehicle("B")  # the vehicle follows the PWM
    r.run(1000)
    assert r.events() == [("StoppingCharging", 0), ("TransactionFinished", E.REASON_LOCAL)]
    assert r.m.toggle_start() is True and r.m.started
    r.vehicle("C")
    r.run(6000)  # the offer comes back 5 s after it stopped (the kernel's duty rule)
    assert r.names() == ["Authorized", "TransactionStarted", "ChargingStarted"]
    assert r.m.session.duration_s >= 7  # the session's accounting goes on


def test_refusals_are_strings_and_change_nothing():
    r = Rig()
    m = r.m
    assert m.stop_transaction(E.REASON_LOCAL) == "no transaction"
    assert isinstance(m.stop_transaction(99), str)
    assert isinstance(m.authorize(""), str) and isinstance(m.authorize(12), str)
    assert isinstance(m.authorize("x" * 37), str)
    assert m.pause_charging() == "no transaction" and m.resume_charging() == "not paused"
    assert m.cancel_reservation(5) == "no such reservation"
    assert isinstance(m.set_external_limit(L.SETTINGS, 6), str)
    assert isinstance(m.set_external_limit(L.OCPP, -1), str)
    assert isinstance(m.set_external_limit(L.OCPP, 6, 230), str)
    assert isinstance(m.set_external_limit(L.OCPP, 6, timeout_ms=-1), str)
    assert isinstance(m.enable("x", -1), str) and isinstance(m.disable(["x"], 1), str)
    assert isinstance(m.disable("x", True), str) and isinstance(m.stop_transaction(True), str)
    assert isinstance(m.set_settings(["ChargeCurrent", 10]), dict)
    assert isinstance(m.set_external_limit(L.OCPP, float("nan")), str)
    assert isinstance(m.reserve(1, "T", 0), str)
    assert m.toggle_start() == "no vehicle connected"
    assert r.names() == [] and not m.authorized and m.enabled and m.reservation is None
    assert m.limit_source == "Settings"


def test_pause_and_resume():
    r = Rig()
    r.vehicle("C")
    r.run(2000)
    r.events()
    assert r.m.pause_charging() is True and r.m.paused
    r.run(100)
    assert r.names() == ["ChargingPausedEVSE"]
    assert r.m.offered_a == 0 and r.m.limit_source == "Paused" and r.m.transaction_active
    r.vehicle("B")
    r.run(1000)
    assert r.m.resume_charging() is True
    r.run(6000)  # the offer comes back 5 s after it stopped (the kernel's duty rule)
    assert r.names() == ["ChargingPausedEV"]  # offered again; the vehicle is in B
    r.vehicle("C")
    r.run(1000)
    assert r.names() == ["ChargingStarted"] and r.m.offered_a == 16


def test_enable_and_disable_follow_priority():
    r = Rig()
    m = r.m
    assert m.disable("CSMS", 10) is True and not m.enabled
    assert m.enable("LocalAPI", 100) is True and not m.enabled  # a lower priority does not undo it
    assert m.enable("ServiceTechnician", 10) is True and not m.enabled  # equal: disable wins
    assert m.enable("CSMS", 10) is True and m.enabled
    assert m.disable("LocalAPI", 5) is True and not m.enabled
    assert m.unassign("LocalAPI") is True and m.enabled
    assert r.names() == ["Disabled", "Enabled", "Disabled", "Enabled"]


def test_a_disabled_charger_starts_nothing_and_pauses_a_running_transaction():
    r = Rig()
    r.m.disable("CSMS", 0)
    assert r.m.authorize(None) == "the charger is disabled"
    assert not r.m.auto_start
    r.vehicle("C")
    r.run(2000)
    assert r.names() == ["Disabled", "SessionStarted"]
    assert not r.m.transaction_active and r.m.offered_a == 0 and r.m.limit_source == "Disabled"
    assert r.m.start_refusal() == "the charger is disabled"
    r.m.enable("CSMS", 0)  # free mode: the vehicle that waited starts
    assert r.m.auto_start
    r.run(2000)
    assert r.names() == ["Enabled", "Authorized", "TransactionStarted", "ChargingStarted"]
    r.m.disable("CSMS", 0)
    r.run(100)
    assert r.names() == ["Disabled", "ChargingPausedEVSE"] and r.m.transaction_active


def test_an_external_limit_in_amps_or_watts_with_timeout_and_fallback():
    r = Rig()
    r.vehicle("C")
    r.run(2000)
    assert r.m.offered_a == 16
    # 6900 W over three phases at 230 V: 10 A, for 20 s, then 12 A.
    assert r.m.set_external_limit(L.OCPP, watts=6900, timeout_ms=20000, fallback_a=12) is True
    assert r.m.limit_source == "OCPP" and r.charger.kernel.limit_a == 10
    r.run(6000)  # the kernel changes the duty at most every 5 s
    assert r.m.offered_a == 10
    assert r.m.set_external_limit(L.CFOS, 8.9) is True  # rounded down
    r.run(6000)
    assert r.m.offered_a == 8 and r.m.limit_source == "cFos"
    assert r.m.set_external_limit(L.CFOS) is True  # neither: no limit from cFos
    r.run(10000)
    assert r.m.offered_a == 12 and r.m.limit_source == "OCPP"  # timed out to its fallback
    assert r.m.set_external_limit(L.OCPP, 20) is True
    r.run(6000)
    assert r.m.offered_a == 16 and r.m.limit_source == "Settings"


def test_reservation_holds_the_charger_for_its_id_tag():
    r = Rig()
    assert r.m.reserve(7, "TAG7", 600000) is True
    assert r.m.reservation == (7, "TAG7") and not r.m.auto_start
    assert r.m.reserve(8, "TAG8", 600000) == "already reserved"
    r.vehicle("C")
    r.run(2000)
    assert r.events() == [("ReservationStart", 7), ("SessionStarted", 0)]
    assert not r.m.transaction_active
    assert r.m.authorize("TAG8") == "reserved for another id tag"
    assert r.m.start_refusal() == "reserved for another id tag"
    assert r.m.authorize("TAG7") is True
    r.run(2000)
    assert r.events() == [("ReservationEnd", 7), ("Authorized", 1), ("TransactionStarted", 0),
                          ("ChargingStarted", 0)]
    assert r.m.reservation is None and r.m.auto_start


def test_a_reservation_expires_or_is_cancelled():
    r = Rig()
    assert r.m.reserve(1, "T", 5000) is True
    r.run(4900)
    assert r.m.reservation is not None
    r.run(200)
    assert r.m.reservation is None
    assert r.events() == [("ReservationStart", 1), ("ReservationEnd", 1)]
    assert r.m.reserve(2, "T", 5000) is True
    assert r.m.cancel_reservation(3) == "no such reservation"
    assert r.m.cancel_reservation(2) is True
    assert r.events() == [("ReservationStart", 2), ("ReservationEnd", 2)]
    r.vehicle("B")
    r.run(1000)
    assert r.m.reserve(3, "T", 5000) == "occupied"


def test_force_unlock():
    r = Rig()
    assert r.m.force_unlock() == "no plug lock: the cable is fixed to the charger (ChargerMode 0)"
    r = Rig(ChargerMode=1)
    r.vehicle("C", cable_a=32)
    r.run(3000)
    assert r.names() == FREE and r.hal.locked
    assert r.m.force_unlock() is True
    r.vehicle("B")
    r.run(2000)
    assert r.events() == [("StoppingCharging", 0), ("TransactionFinished", E.REASON_UNLOCK_COMMAND)]
    assert not r.hal.locked


def test_errors_raised_and_cleared():
    r = Rig()
    r.vehicle("C")
    r.run(2000)
    r.events()
    r.fault("CpShort")
    r.run(1000)
    assert r.events() == [("ErrorRaised", S.EV_ERR_E)]
    assert r.m.fault == S.EV_ERR_E and r.m.transaction_active
    r.fault("CpShort", False)
    r.vehicle("A")
    r.run(2000)
    assert r.events() == [("ErrorCleared", S.EV_ERR_E), ("TransactionFinished", E.REASON_EV_DISCONNECTED),
                          ("SessionFinished", 0)]


def test_a_latched_emergency_stop_ends_the_transaction():
    r = Rig()
    r.vehicle("C")
    r.run(2000)
    r.events()
    r.fault("Epo")
    r.run(500)
    assert r.events() == [("ErrorRaised", S.EPO_F), ("TransactionFinished", E.REASON_EMERGENCY_STOP),
                          ("SessionFinished", 0)]
    assert not r.m.charging
    assert r.m.authorize("T") == S.NAMES[S.EPO_F]


def test_settings_go_through_the_manager():
    r = Rig()
    assert r.m.set_settings({"ChargeCurrent": 5}) == {"ChargeCurrent": "must be between 6 and 80"}
    assert r.m.settings()["ChargeCurrent"] == 16
    assert r.m.set_settings({"ChargeCurrent": 10, "ChargeAutoStart": False}) == {}
    assert r.m.settings()["ChargeCurrent"] == 10 and not r.m.auto_start
    r.run(100)
    assert r.m.limits.get(L.SETTINGS) == 10
    r.vehicle("B")
    r.run(1000)
    assert r.m.settings_conflict({"ChargerMode": 1}) == {"ChargerMode": "not while a vehicle is connected"}
    assert r.m.set_settings({"ChargerMode": 1}) == {"ChargerMode": "not while a vehicle is connected"}
    assert r.m.settings()["ChargerMode"] == 0


def test_the_manager_step_allocates_nothing():
    r = Rig()
    r.m.set_external_limit(L.OCPP, 10, 3000, 12)
    r.m.reserve(1, "T", 2000)

    def leg(state, ms):
        r.vehicle(state)  # may allocate: between legs
        heap_locked(lambda: r.run(ms))

    leg("A", 3000)  # the reservation and the OCPP limit expire
    r.m.pause_charging()  # refused: no transaction
    leg("C", 7000)
    leg("B", 2000)
    r.m.stop_transaction(E.REASON_REMOTE)
    leg("B", 2000)
    r.m.authorize(None)
    leg("C", 6000)
    r.fault("CpShort")
    leg("C", 2000)
    r.fault("CpShort", False)
    leg("A", 2000)
    assert r.names() == ["ReservationStart", "ReservationEnd", "SessionStarted", "Authorized",
                         "TransactionStarted", "ChargingStarted", "ChargingPausedEV", "StoppingCharging",
                         "TransactionFinished", "Authorized", "TransactionStarted", "ChargingStarted",
                         "ErrorRaised", "ErrorCleared", "TransactionFinished", "SessionFinished"]


def test_boost_toggles_only_while_charging_is_started():
    r = Rig(ChargeCurrent=10, ChargeCurrentBoost=20)
    assert r.m.boost_refusal() == "charging is not started"
    assert r.m.toggle_boost() == "charging is not started" and not r.m.boosted
    r.vehicle("C")
    r.run(2000)
    assert r.m.boost_refusal() is None and r.m.toggle_boost() is True and r.m.boosted
    r.run(100)
    assert r.m.limits.get(L.SETTINGS) == 20 and r.m.limit_source == "Settings"
    r.run(6000)
    assert r.m.offered_a == 20
    assert r.m.toggle_boost() is True and not r.m.boosted


def test_evse_power_available_from_the_remote_system_is_named_as_such():
    r = Rig(ControlStrategy=1, Meter2Type=7, Meter2Ip="127.0.0.1", ChargeCurrent=32)
    assert r.m.may_set_power_available("127.0.0.1") and not r.m.may_set_power_available("127.0.0.2")
    assert r.m.set_power_available(6900) is True  # 10 A on three phases
    assert r.m.limit_source == "EVSEPowerAvailable" and r.charger.kernel.limit_a == 10
    assert r.m.power_available_w() == 6900
    r.vehicle("C")
    r.run(2000)
    assert r.m.offered_a == 10


def test_disable_or_a_reservation_withdraws_a_waiting_authorization():
    r = Rig(ChargeAutoStart=False)
    assert r.m.authorize("A") is True
    assert r.m.disable("CSMS", 0) is True and not r.m.authorized
    assert r.names() == ["Authorized", "Disabled", "Deauthorized"]
    r.m.enable("CSMS", 0)
    assert r.m.authorize("A") is True
    assert r.m.reserve(4, "B", 60000) is True and not r.m.authorized
    assert r.names() == ["Enabled", "Authorized", "Deauthorized", "ReservationStart"]
    r.vehicle("C")
    r.run(2000)
    assert not r.m.transaction_active


def test_a_card_is_authorized_at_once_without_a_validator_and_its_tag_stops_its_transaction():
    r = Rig(ChargeAutoStart=False)
    r.vehicle("C")
    r.run(2000)
    r.names()
    assert r.m.present_id_tag("") != True and r.m.present_id_tag(7) != True  # noqa: E712 (a reason string)
    assert r.m.present_id_tag("04A2B3C4") is True
    r.run(2000)
    assert r.names() == ["Authorized", "TransactionStarted", "ChargingStarted"] and r.m.id_tag == "04A2B3C4"
    assert r.m.present_id_tag("04A2B3C4") is True  # the same card: stop
    r.run(7000)
    assert ("TransactionFinished", E.REASON_LOCAL) in r.events()


def test_a_transaction_that_must_be_recorded_offers_nothing_until_it_is():
    """An adapter that bills transactions (OCPP) has each start recorded
    before energy flows: the vehicle, asking for charge from the first
    moment, waits in state B (no offer, contactor open) until
    start_recorded(); the next transaction waits again."""
    r = Rig()
    r.m.require_start_record()
    r.vehicle("C")
    r.run(3000)
    assert r.names() == ["SessionStarted", "Authorized", "TransactionStarted"]  # not ChargingPausedEVSE: no pause
    assert r.m.transaction_active and r.m.offered_a == 0 and not r.m.charging and not r.hal.relay_closed
    r.m.start_recorded()
    r.run(1000)
    assert r.names() == ["ChargingStarted"]
    assert r.m.offered_a == 16 and r.m.charging
    r.m.stop_transaction(E.REASON_REMOTE)
    r.run(7000)
    assert r.names() == ["StoppingCharging", "TransactionFinished"]
    r.m.start_recorded()  # no transaction: changes nothing
    r.m.toggle_start()  # a new transaction in the same session
    r.run(6000)
    assert r.names() == ["Authorized", "TransactionStarted"]
    assert r.m.offered_a == 0 and not r.m.charging
    r.m.start_recorded()
    r.run(6000)
    assert r.names() == ["ChargingStarted"] and r.m.charging


def test_without_an_adapter_that_records_starts_nothing_waits():
    r = Rig()
    r.m.start_recorded()  # no effect on a charger that does not require it
    r.vehicle("C")
    r.run(2000)
    assert r.m.charging and not r.charger.kernel.hold_offer
