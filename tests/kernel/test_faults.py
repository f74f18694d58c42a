"""Faults: EPO, RCM (trip and boot self-test), over-temperature, state E, diode,
PP, ventilation and a vehicle that draws more than offered."""

from evse import states as S
from evse import kernel as K
from bench import Bench, load_board, pwm_on, is_fault


def _open_at_once(b, fault_state):
    """Tick until the fault state shows; the contactor must be open on that very tick."""
    t = b.until(lambda b: b.state == fault_state, 10000)
    assert t is not None, "never reached %s (state %d)" % (S.NAMES[fault_state], b.state)
    assert not b.k.relay and not b.relay, "contactor still closed in %s" % S.NAMES[fault_state]
    assert b.pwm == 0, "CP not at state F"
    assert b.offered == 0
    return t


# -- latched: EPO, RCM ---------------------------------------------------------


def test_epo_stops_at_once_and_latches():
    b = Bench()
    b.charging()
    b.fault("Epo")
    t = _open_at_once(b, S.EPO_F)
    assert t == 10  # the first tick that reads the input
    assert b.k.latched == S.EPO_F
    b.fault("Epo", False)
    b.vehicle("A")
    assert b.stays(lambda b: b.state == S.EPO_F and b.pwm == 0 and not b.k.relay, 30000)
    assert not b.k.start_stop_allowed and not b.k.toggle_start()
    b.vehicle("C")
    assert b.stays(lambda b: b.state == S.EPO_F and not b.k.relay, 3000)


def test_epo_during_boot_latches():
    b = Bench(boot=False)
    b.fault("Epo")
    b.run(20)
    assert b.state == S.EPO_F and b.k.latched == S.EPO_F
    b.fault("Epo", False)
    assert b.stays(lambda b: b.state == S.EPO_F, 2000)


def test_rcm_trip_stops_at_once_and_latches():
    b = Bench()
    b.charging()
    b.fault("Rcm")
    t = _open_at_once(b, S.GENERAL_ERR)
    assert t == 10
    assert b.k.latched == S.GENERAL_ERR and b.k.cause == S.CAUSE_RCM
    b.fault("Rcm", False)
    b.vehicle("A")
    assert b.stays(lambda b: b.state == S.GENERAL_ERR and b.k.cause == S.CAUSE_RCM and not b.k.relay, 30000)
    assert not b.k.toggle_start()


def test_rcm_self_test_at_boot():
    b = Bench(boot=False)
    seen = []
    b.hook = lambda b: seen.append((b.elapsed, b.k.rcm_test, b.state, b.pwm, b.k.relay))
    t = b.boot()
    assert b.state == S.IDLE_A
    tested = [e for e, test, state, pwm, relay in seen if test]
    # The test input is pulsed for RCM_TEST_MS from the first tick.
    assert tested and tested[0] == 10 and tested[-1] - tested[0] == K.RCM_TEST_MS - 10, tested
    # Waiting, no offer and no contactor until the test and its release are done.
    for e, test, state, pwm, relay in seen:
        if e < 10 + K.RCM_TEST_MS + K.RCM_RELEASE_MS:
            assert state == S.WAITING and pwm == 1000 and not relay, (e, state, pwm)
    assert t < 1000, t
    assert not b.k.latched


def test_rcm_that_fails_its_self_test_latches():
    b = Bench(boot=False, rcm_dead=True)
    b.run(200)
    assert b.state == S.GENERAL_ERR
    assert b.k.latched == S.GENERAL_ERR and b.k.cause == S.CAUSE_RCM_SELFTEST
    b.vehicle("B")
    b.vehicle("C")
    assert b.stays(lambda b: b.state == S.GENERAL_ERR and not b.k.relay and b.pwm == 0, 5000)


def test_rcm_stuck_tripped_at_boot_latches():
    b = Bench(boot=False)
    b.fault("Rcm")
    b.run(400)
    assert b.k.latched == S.GENERAL_ERR and b.k.cause == S.CAUSE_RCM
    b.fault("Rcm", False)
    assert b.stays(lambda b: b.state == S.GENERAL_ERR, 2000)


RCM_MS = K.RCM_TEST_MS + K.RCM_RELEASE_MS


def test_rcm_self_test_on_every_plug_in_before_lock_and_pwm():
    """Issue 20 item 7: each A->B tests the RCM, contactor open, before the
    lock moves and before the PWM starts."""
    b = Bench(case_b=True)
    for session in range(2):
        seen = []
        b.hook = lambda b: seen.append((b.elapsed, b.k.rcm_test, b.pwm, b.k.lock_drive, b.relay))
        b.vehicle("B", cable_a=32)
        assert b.until(lambda b: pwm_on(b.pwm), 3000) is not None
        tested = [e for e, test, pwm, lock, relay in seen if test]
        assert len(tested) * 10 == K.RCM_TEST_MS, (session, tested)
        first_lock = min(e for e, test, pwm, lock, relay in seen if lock)
        first_pwm = min(e for e, test, pwm, lock, relay in seen if pwm_on(pwm))
        assert tested[-1] + K.RCM_RELEASE_MS <= first_lock < first_pwm, (tested, first_lock, first_pwm)
        assert not any(relay for e, test, pwm, lock, relay in seen)
        b.hook = None
        b.vehicle("C")
        assert b.until(lambda b: b.relay, 3000) is not None
        b.vehicle("B")
        b.vehicle("A")
        b.run(3000)


def test_rcm_that_fails_its_plug_in_test_latches():
    b = Bench()
    b.rcm_dead = True  # it passed at boot, and has died since
    b.vehicle("B")
    assert b.until(lambda b: b.k.latched, 1000) is not None
    assert b.state == S.GENERAL_ERR and b.k.cause == S.CAUSE_RCM_SELFTEST
    assert b.stays(lambda b: not pwm_on(b.pwm) and not b.relay, 3000)


def test_rcm_test_window_is_a_board_setting():
    conf = load_board()
    conf["rcm"]["test_ms"] = 150
    b = Bench(board=conf, boot=False)
    seen = []
    b.hook = lambda b: seen.append(b.k.rcm_test)
    b.boot()
    assert seen.count(True) * 10 == 150
    seen[:] = []
    b.vehicle("B")
    b.run(1000)
    assert seen.count(True) * 10 == 150


def test_a_latched_fault_ends_the_session():
    """Issue 20 item 11: with the CP held at F the vehicle cannot be watched;
    the session does not run on (duration, "connected") after the fault."""
    b = Bench()
    b.charging()
    b.run(5000)
    b.fault("Epo")
    assert b.until(lambda b: b.k.latched, 100) is not None
    duration = b.k.session.duration_s
    b.vehicle("A")
    b.run(10000)
    assert not b.k.connected and not b.k.session.active
    assert b.k.session.duration_s == duration


def test_derating_has_hysteresis():
    """Issue 20 item 11: a temperature wavering around a derating step does
    not move the offer back and forth."""
    b = Bench(charge_current_a=16)
    b.charging()
    b.temp(721)
    b.run(7000)
    assert b.offered == 10
    changes = []
    b.hook = lambda b: changes.append(b.elapsed) if b.offered != 10 else None
    for n in range(10):
        b.temp(719 if n % 2 else 721)  # 11 A at 71.9 C, 10 A at 72.1 C
        b.run(6000)
    assert not changes, changes[:3]
    b.temp(690)  # 3 C below: back up
    assert b.until(lambda b: b.offered == 12, 8000) is not None


def test_temperature_sensor_fault_stops_with_its_own_cause():
    """Issue 20 item 4: an open or shorted NTC is a fault of its own, not -40 C."""
    b = Bench()
    b.charging()
    b.fault("TempSensor")
    t = _open_at_once(b, S.GENERAL_ERR)
    assert K.TEMP_DEBOUNCE_MS <= t <= K.TEMP_DEBOUNCE_MS + 20, t
    assert b.k.cause == S.CAUSE_TEMP_SENSOR
    assert S.CAUSES[b.k.cause] == "temperature sensor open or shorted"
    assert b.stays(lambda b: b.state == S.GENERAL_ERR and not b.relay, 10000)
    b.fault("TempSensor", False)
    assert b.until(lambda b: b.state == S.CHARGE_C and b.relay, 10000) is not None


def test_board_without_rcm_skips_the_self_test():
    conf = load_board()
    del conf["rcm"]
    b = Bench(board=conf, boot=False)
    seen = []
    b.hook = lambda b: seen.append(b.k.rcm_test)
    t = b.boot()
    assert not any(seen)
    assert t <= 50, t
    b.fault("Rcm")  # no RCM: the input means nothing
    b.charging()
    assert b.state == S.CHARGE_C


# -- over-temperature ----------------------------------------------------------


def test_over_temperature_derates_then_stops_then_recovers_with_hysteresis():
    b = Bench()  # board: derate from 60 C, stop at 80 C
    assert b.params.temp_derate_c10 == 600 and b.params.temp_stop_c10 == 800
    b.charging()
    b.run(6000)
    assert b.offered == 16
    # Derating: linear from the full current at 60 C to 6 A at 80 C, and never above the setting.
    table = ((600, 16), (610, 16), (700, 11), (790, 7), (799, 7))
    for c10, amps in table:
        b.temp(c10)
        b.run(5010)  # the 5 s duty rule
        assert b.offered == amps, (c10, b.offered, amps)
        assert b.state == S.CHARGE_C and b.relay
    b.temp(800)
    t = _open_at_once(b, S.GENERAL_ERR)
    assert K.TEMP_DEBOUNCE_MS <= t <= K.TEMP_DEBOUNCE_MS + 20, t  # the stop point held 1 s
    assert b.k.cause == S.CAUSE_OVERTEMP
    assert not b.k.latched
    # Stays stopped until 10 C below the stop point.
    b.temp(701)
    assert b.stays(lambda b: b.state == S.GENERAL_ERR and not b.relay and not pwm_on(b.pwm), 10000)
    b.temp(699)
    assert b.until(lambda b: b.state == S.CHARGE_C and b.relay, 10000) is not None
    # Still derated at 69.9 C, as for 70.1 C: derating comes back up only 2 C below that.
    assert b.offered == 11
    b.temp(300)
    assert b.until(lambda b: b.offered == 16, 6000) is not None


def test_over_temperature_derating_is_lower_than_the_offer_between_the_points():
    b = Bench(charge_current_a=32)
    b.charging()
    b.run(6000)
    assert b.offered == 32
    last = 32
    for c10 in range(620, 800, 20):
        b.temp(c10)
        b.run(5010)
        assert 6 <= b.offered < 32, (c10, b.offered)
        assert b.offered <= last
        last = b.offered
    assert last < 10


def test_simulated_overheating_stops_charging():
    b = Bench()
    b.charging()
    b.fault("OverTemp")
    _open_at_once(b, S.GENERAL_ERR)
    assert b.k.cause == S.CAUSE_OVERTEMP
    b.fault("OverTemp", False)
    assert b.until(lambda b: b.state == S.CHARGE_C and b.relay, 10000) is not None


# -- the vehicle side: E, diode, PP --------------------------------------------


def test_cp_short_is_state_e_and_clears_when_gone():
    b = Bench()
    b.charging()
    b.fault("CpShort")
    _open_at_once(b, S.EV_ERR_E)
    assert b.stays(lambda b: b.state == S.EV_ERR_E and not b.relay, 2000)
    b.fault("CpShort", False)
    assert b.until(lambda b: b.state == S.CHARGE_C and b.relay, 10000) is not None


def test_cp_short_without_a_vehicle():
    b = Bench()
    b.fault("CpShort")
    _open_at_once(b, S.EV_ERR_E)
    b.fault("CpShort", False)
    assert b.until(lambda b: b.state == S.IDLE_A, 2000) is not None


def test_diode_short_is_diode_error_until_unplugged():
    b = Bench()
    b.vehicle("B")
    assert b.until(lambda b: pwm_on(b.pwm), 1000) is not None
    b.fault("DiodeShort")
    t = _open_at_once(b, S.DIODE_ERR)
    assert t <= 50, t
    b.fault("DiodeShort", False)
    assert b.stays(lambda b: b.state == S.DIODE_ERR and not pwm_on(b.pwm), 5000)
    b.vehicle("A")
    assert b.until(lambda b: b.state == S.IDLE_A, 2000) is not None
    b.vehicle("B")
    assert b.until(lambda b: b.state == S.CONNECTED_B, 2000) is not None


def test_diode_checked_before_closing():
    b = Bench()
    b.fault("DiodeShort")
    b.vehicle("C")
    t = _open_at_once(b, S.DIODE_ERR)
    assert t < 1000
    assert b.stays(lambda b: not b.relay and not b.k.relay, 5000)


def test_diode_short_while_charging():
    b = Bench()
    b.charging()
    b.fault("DiodeShort")
    t = _open_at_once(b, S.DIODE_ERR)
    assert t <= 50, t


def test_pp_open_with_a_plug_in_case_b():
    b = Bench(case_b=True)
    b.charging()
    b.fault("PpOpen")
    t = _open_at_once(b, S.PP_ERR_F)
    assert t <= K.PP_DEBOUNCE_MS + 20, t
    # Clears once PP reads a cable again (after the F hold).
    b.fault("PpOpen", False)
    assert b.until(lambda b: b.state == S.CHARGE_C and b.relay, 10000) is not None


def test_case_b_plug_without_cable_rating_is_pp_error():
    b = Bench(case_b=True)
    b.vehicle("B", cable_a=None)
    _open_at_once(b, S.PP_ERR_F)
    assert b.stays(lambda b: b.state == S.PP_ERR_F and not pwm_on(b.pwm), 3000)
    assert not b.board.locked
    b.vehicle("A")
    assert b.until(lambda b: b.state == S.IDLE_A, 2000) is not None


def test_no_pp_error_without_a_vehicle_or_in_case_a():
    b = Bench(case_b=True)
    b.vehicle("A", cable_a=None)
    assert b.stays(lambda b: b.state == S.IDLE_A, 2000)
    b = Bench(case_b=False)
    b.vehicle("C", cable_a=None)
    assert b.until(lambda b: b.relay, 3000) is not None
    assert b.k.pp_a == 0


# -- ventilation ---------------------------------------------------------------


def test_state_d_charges_only_with_ventilation():
    b = Bench(ventilation=False)
    b.vehicle("B")
    b.vehicle("D")
    assert b.until(lambda b: b.state == S.VENT_D, 1000) is not None
    assert b.stays(lambda b: b.state == S.VENT_D and not b.relay and not b.k.relay, 5000)
    b = Bench(ventilation=True)
    b.vehicle("B")
    b.vehicle("D")
    t = b.until(lambda b: b.relay, 3000)
    assert t is not None and t <= K.RCM_TEST_MS + K.RCM_RELEASE_MS + 100, t  # the RCM test comes first
    assert b.state == S.VENT_D
    # Ventilation lost (setting off): the contactor opens at once.
    b.settings.ventilation = False
    b.tick()
    assert not b.relay and b.state == S.VENT_D


def test_c_to_d_without_ventilation_opens():
    b = Bench()
    b.charging()
    b.vehicle("D")
    t = b.until(lambda b: not b.relay, 1000)
    assert t is not None and t <= 100, t
    assert b.state == S.VENT_D


# -- a vehicle drawing more than offered ---------------------------------------


def test_vehicle_drawing_more_than_offered_is_stopped_after_5s():
    b = Bench()
    b.charging()
    assert b.offered == 16
    limit = 16 + K.OVERCURRENT_MARGIN_A + 16 // 10  # 19 A
    b.vehicle(draw_a=limit + 1)
    t = _open_at_once(b, S.GENERAL_ERR)
    assert b.k.cause == S.CAUSE_OVERCURRENT
    assert K.OVERCURRENT_MS <= t <= K.OVERCURRENT_MS + 20, t
    # Until the vehicle goes away.
    b.vehicle(draw_a=None)
    assert b.stays(lambda b: b.state == S.GENERAL_ERR and not b.relay, 5000)
    b.vehicle("A")
    assert b.until(lambda b: b.state == S.IDLE_A, 2000) is not None


def test_drawing_up_to_the_margin_is_tolerated():
    b = Bench()
    b.charging()
    b.vehicle(draw_a=16 + K.OVERCURRENT_MARGIN_A + 1)
    assert b.stays(lambda b: b.state == S.CHARGE_C and b.relay, 20000)


def test_a_short_excess_is_tolerated():
    b = Bench()
    b.charging()
    b.vehicle(draw_a=30)
    b.run(K.OVERCURRENT_MS - 100)
    b.vehicle(draw_a=16)
    b.run(20)
    b.vehicle(draw_a=30)
    b.run(K.OVERCURRENT_MS - 100)
    assert b.state == S.CHARGE_C and b.relay


def test_all_faults_hold_state_f_then_release_the_cp():
    """Non-latched faults: F for >= 300 ms, then steady +12 V (PWM off) while the cause lasts."""
    for name, fault_state, case_b in (
        ("CpShort", S.EV_ERR_E, False),
        ("DiodeShort", S.DIODE_ERR, False),
        ("PpOpen", S.PP_ERR_F, True),
        ("OverTemp", S.GENERAL_ERR, False),
    ):
        b = Bench(case_b=case_b)
        b.charging()
        b.fault(name)
        _open_at_once(b, fault_state)
        held = b.until(lambda b: b.pwm != 0, 2000)
        assert held is not None, name
        assert held >= K.FAULT_HOLD_MS, (name, held)
        assert b.pwm == 1000 and is_fault(b.state), (name, b.pwm, b.state)


def test_over_temperature_present_when_another_fault_clears_is_flagged_at_once():
    """When a non-latched fault clears, a second cause that is already present
    (here over-temperature at the stop point, when a state E fault clears) must
    take over on that very tick: no tick in which a non-fault state is shown or
    the PWM offers anything."""
    b = Bench()
    b.charging()
    b.fault("CpShort")
    assert b.until(lambda b: b.state == S.EV_ERR_E, 1000) is not None
    b.temp(800)
    b.run(K.TEMP_DEBOUNCE_MS)
    seen = []
    b.hook = lambda b: seen.append((b.elapsed, b.state, b.pwm))
    b.fault("CpShort", False)
    b.run(2000)
    bad = [s for s in seen if not is_fault(s[1]) or pwm_on(s[2])]
    assert not bad, "over-temperature not in force at once: %r" % bad[:3]
    assert b.state == S.GENERAL_ERR and b.k.cause == S.CAUSE_OVERTEMP


def test_state_e_present_when_another_fault_clears_is_flagged_at_once():
    """The same, the other way round: the CP at E when an over-temperature fault clears."""
    b = Bench()
    b.charging()
    b.fault("OverTemp")
    assert b.until(lambda b: b.state == S.GENERAL_ERR, K.TEMP_DEBOUNCE_MS + 100) is not None
    b.fault("CpShort")
    b.run(500)
    seen = []
    b.hook = lambda b: seen.append((b.elapsed, b.state, b.pwm))
    b.fault("OverTemp", False)
    b.run(K.TEMP_DEBOUNCE_MS + 1000)
    bad = [s for s in seen if not is_fault(s[1])]
    assert not bad, "CP at E shown as %r" % [(t, S.NAMES[st]) for t, st, p in bad[:3]]
    assert b.state == S.EV_ERR_E
