"""Start/stop (auto start, ChargeStartToggle), BOOST, and the caps on the offer."""

from evse import states as S
from evse import kernel as K
from evse import pilot
from bench import Bench, pwm_on


def test_auto_start_offers_when_a_vehicle_connects():
    b = Bench(auto_start=True)
    b.vehicle("B")
    assert b.until(lambda b: pwm_on(b.pwm), 1000) is not None
    assert b.k.started and b.offered == 16 and b.pwm == pilot.duty_permille(16)
    assert b.state == S.CONNECTED_B


def test_without_auto_start_waits_for_the_toggle():
    b = Bench(auto_start=False)
    b.vehicle("B")
    b.vehicle("C")
    assert b.stays(lambda b: not b.k.started and b.pwm == 1000 and not b.relay, 3000)
    assert b.state == S.CHARGE_C
    assert b.k.start_stop_allowed
    assert not b.k.boost_allowed
    assert b.k.toggle_boost() is False
    assert not b.k.boosted
    assert b.k.toggle_start() is True
    assert b.k.started
    assert b.k.boost_allowed
    t = b.until(lambda b: b.relay, 3000)
    assert t is not None and t <= 100, t
    # Stop again.
    assert b.k.toggle_start() is True
    assert not b.k.started
    b.tick()
    assert b.pwm == 1000 and b.offered == 0


def test_toggles_refused_when_not_possible():
    # While booting.
    b = Bench(boot=False, auto_start=False)
    b.vehicle("B")
    b.run(100)
    assert b.state == S.WAITING
    assert not b.k.start_stop_allowed and b.k.toggle_start() is False
    # With no vehicle.
    b = Bench(auto_start=False)
    assert not b.k.start_stop_allowed
    assert b.k.toggle_start() is False and b.k.toggle_boost() is False
    assert not b.k.started
    # In a fault.
    b = Bench(auto_start=False)
    b.vehicle("B")
    b.run(100)
    b.fault("CpShort")
    assert b.until(lambda b: b.state == S.EV_ERR_E, 1000) is not None
    assert not b.k.start_stop_allowed and b.k.toggle_start() is False
    # Latched.
    b = Bench()
    b.vehicle("B")
    b.run(100)
    b.fault("Epo")
    b.run(20)
    assert not b.k.start_stop_allowed and not b.k.boost_allowed
    assert b.k.toggle_start() is False and b.k.toggle_boost() is False


def test_boost_raises_to_the_boost_current_and_ends_at_unplug():
    b = Bench(charge_current_a=10, boost_current_a=25)
    b.charging()
    assert b.offered == 10
    assert b.k.boost_allowed
    assert b.k.toggle_boost() is True and b.k.boosted
    assert b.until(lambda b: b.offered == 25, K.DUTY_CHANGE_MS + 100) is not None
    assert b.pwm == pilot.duty_permille(25) and b.relay
    # Off again by the toggle (after the 5 s rule).
    assert b.k.toggle_boost() is True and not b.k.boosted
    assert b.until(lambda b: b.offered == 10, K.DUTY_CHANGE_MS + 100) is not None
    # On, then the session ends: BOOST is over, the next session starts unboosted.
    b.run(K.DUTY_CHANGE_MS)
    assert b.k.toggle_boost()
    b.run(100)
    assert b.offered == 25
    b.vehicle("A")
    b.run(100)
    assert not b.k.boosted and not b.k.started
    assert not b.k.boost_allowed and not b.k.start_stop_allowed
    b.run(K.DUTY_CHANGE_MS)
    b.vehicle("B")
    assert b.until(lambda b: pwm_on(b.pwm), 1000) is not None
    assert not b.k.boosted and b.offered == 10


def test_boost_is_capped_by_the_charger_rating_and_the_limit():
    b = Bench(charge_current_a=10, boost_current_a=80)
    b.charging()
    assert b.k.toggle_boost()
    b.run(K.DUTY_CHANGE_MS + 10)
    assert b.offered == b.params.max_current_a == 32
    b.k.limit_a = 20
    b.run(K.DUTY_CHANGE_MS + 10)
    assert b.offered == 20


def test_boost_can_be_switched_off_even_when_not_allowed():
    b = Bench(charge_current_a=10, boost_current_a=25)
    b.charging()
    assert b.k.toggle_boost()
    b.fault("CpShort")
    assert b.until(lambda b: b.state == S.EV_ERR_E, 1000) is not None
    assert not b.k.boost_allowed
    assert b.k.toggle_boost() is True and not b.k.boosted
    assert b.k.toggle_boost() is False


def _offer_after_plug_in(case_b, cable, charge, limit):
    b = Bench(case_b=case_b, charge_current_a=charge, boost_current_a=charge)
    b.k.limit_a = limit
    b.vehicle("B", cable_a=cable)
    b.run(1500)
    return b


def test_offer_never_exceeds_cable_rating_rating_setting_or_limit():
    table = (
        # (case B, cable A, setting A, limit A, offered A)
        (False, None, 80, 80, 32),  # the charger's rating (params.max_current_a)
        (False, 13, 80, 80, 32),  # no PP in case A: the cable is not read
        (True, 13, 80, 80, 13),
        (True, 20, 80, 80, 20),
        (True, 32, 80, 80, 32),
        (True, 63, 80, 80, 32),
        (True, 63, 16, 80, 16),
        (True, 13, 16, 80, 13),
        (True, 20, 32, 10, 10),
        (False, None, 10, 80, 10),
        (False, None, 16, 8, 8),
        (False, None, 6, 80, 6),  # the minimum offer
        (False, None, 5, 80, 0),  # below 6 A: nothing offered
        (False, None, 16, 5, 0),
        (False, None, 16, 6, 6),
    )
    for case_b, cable, charge, limit, want in table:
        b = _offer_after_plug_in(case_b, cable, charge, limit)
        row = (case_b, cable, charge, limit, want, b.offered)
        assert b.offered == want, row
        assert b.pwm == pilot.duty_permille(want), row
        if want:
            assert b.state == S.CONNECTED_B, row
            b.vehicle("C")
            assert b.until(lambda b: b.relay, 3000) is not None, row
        else:
            assert b.state == S.CONNECTED_B and b.pwm == 1000, row
            b.vehicle("C")
            assert b.stays(lambda b: not b.relay, 3000), row
        if case_b:
            assert b.k.pp_a == cable, row


def test_charger_rating_caps_every_setting():
    for charge in (33, 40, 63, 80, 100):
        b = _offer_after_plug_in(False, None, charge, 80)
        assert b.offered == 32, (charge, b.offered)


def test_pause_below_6a_and_resume():
    b = Bench()
    b.charging()
    b.run(6000)
    b.k.limit_a = 4
    b.tick()
    assert b.offered == 0 and b.pwm == 1000
    b.vehicle("B")  # the vehicle pauses
    b.run(1000)
    assert not b.relay and b.state == S.CONNECTED_B
    b.k.limit_a = 16
    assert b.until(lambda b: pwm_on(b.pwm), K.DUTY_CHANGE_MS + 100) is not None
    b.vehicle("C")
    assert b.until(lambda b: b.relay, 3000) is not None


def test_three_and_one_phase_power():
    for three, want_w in ((True, 16 * 230 * 3), (False, 16 * 230)):
        b = Bench(three_phase=three)
        b.charging()
        b.tick()
        assert b.k.power_w == want_w, (three, b.k.power_w)
        assert b.k.current_a == 16
        b.vehicle("B")
        b.run(100)
        assert b.k.power_w == 0


def test_offer_follows_a_lower_pp_reading_once_debounced():
    """Case B: the PP reads a lower rating mid-session (a changed or degraded PP
    contact): the offer must not stay above the rating the PP now reads (once the
    reading held PP_DEBOUNCE_MS); the 5 s duty rule does not apply to this cap
    (it is not a free choice of current)."""
    b = Bench(case_b=True, charge_current_a=32)
    b.vehicle("B", cable_a=32)
    b.vehicle("C")
    assert b.until(lambda b: b.relay, 3000) is not None
    b.run(1000)
    assert b.offered == 32
    b.vehicle(cable_a=13)
    b.run(K.PP_DEBOUNCE_MS)
    assert b.k.pp_a == 32
    b.tick()
    assert b.k.pp_a == 13
    over = []

    def hook(b):
        if b.offered > b.k.pp_a:
            over.append((b.elapsed, b.offered, b.k.pp_a))

    b.hook = hook
    b.tick()
    b.run(6000)
    assert not over, "offered above the PP rating for %d ms: %r" % (len(over) * 10, over[:1])


# -- PP: debounced both ways, never stale (issue 20 item 8, issue 12 §2) --------------


def test_one_pp_sample_reading_a_higher_rating_does_not_raise_the_offer():
    b = Bench(case_b=True, charge_current_a=32)
    b.vehicle("B", cable_a=13)
    b.vehicle("C")
    assert b.until(lambda b: b.relay, 5000) is not None
    b.run(6000)
    assert b.offered == 13
    seen = []
    b.hook = lambda b: seen.append((b.k.pp_a, b.offered))
    b.vehicle(cable_a=32)  # one sample of a 220 ohm reading
    b.tick()
    b.vehicle(cable_a=13)
    b.run(6000)
    assert max(seen) == (13, 13), max(seen)


def test_the_pp_is_judged_afresh_at_plug_in():
    """The PP pin mates last: a vehicle seen (CP B) a moment before the PP is
    no PP fault."""
    b = Bench(case_b=True)
    b.vehicle(cable_a=None)
    b.run(5000)  # the socket's PP has read open for a long time
    seen = []
    b.hook = lambda b: seen.append(b.state)
    b.vehicle("B")
    assert b.until(lambda b: b.k.connected, 100) is not None
    b.tick()  # the PP reads open 10 ms after the vehicle was seen
    b.vehicle(cable_a=32)
    assert b.until(lambda b: pwm_on(b.pwm), 3000) is not None
    assert S.PP_ERR_F not in seen and b.k.pp_a == 32


def test_a_cable_pulled_out_under_load_opens_within_100ms():
    b = Bench(case_b=True)
    b.charging()
    b.run(1000)
    b.fault("PpOpen")  # the PP contact breaks first
    t = b.until(lambda b: not b.relay, 1000)
    assert t is not None and t <= 100, t
    assert b.state == S.PP_ERR_F


def test_pp_coded_current_is_never_stale():
    b = Bench(case_b=True)
    b.charging()
    assert b.k.pp_a == 32
    b.fault("PpOpen")
    t = b.until(lambda b: b.k.pp_a == 0, 1000)
    assert t is not None and t <= K.PP_DEBOUNCE_MS + 10, t
