"""Load management arithmetic (ControlStrategy 1): what the site's limits
leave for the charger, and how the limit follows it without flapping."""

from evse.headroom import available_a, drawing_phases, headroom_a, own_draw, wiring
from evse.loadlimit import LoadLimiter, MIN_A, NO_LIMIT_A, RESUME_HOLD_MS


ALL = [0, 1, 2]


def test_no_limit_configured_leaves_the_charger_its_own_maximum():
    assert headroom_a(ALL, 230, 0, [0, 0, 0]) == NO_LIMIT_A


def test_power_cap_is_shared_over_the_phases_drawing_and_rounded_down():
    assert headroom_a(ALL, 230, 0, [0, 0, 0], cap_w=11040) == 16
    assert headroom_a(ALL, 230, 0, [0, 0, 0], cap_w=11039) == 15
    # EVSEPowerAvailable 3680 W on a one-phase session: 16 A, not 5 A.
    assert headroom_a([0], 230, 0, [0, 0, 0], cap_w=3680) == 16
    assert headroom_a([1], 230, 0, [0, 0, 0], cap_w=3680) == 16


def test_site_limit_gives_back_the_chargers_own_draw():
    # Site 15 kW of which the charger draws 16 A x 3 x 230 = 11040 W: others 3960 W.
    # With a 20 kW limit the charger may take (20000 - 3960) / 690 = 23.2 -> 23 A.
    assert headroom_a(ALL, 230, 11040, [16, 16, 16], site_w=15000, site_limit_w=20000) == 23


def test_site_limit_exceeded_gives_less_than_the_charger_draws():
    assert headroom_a(ALL, 230, 11040, [16, 16, 16], site_w=22000, site_limit_w=20000) == 13


def test_site_limit_is_divided_by_the_phases_actually_drawing():
    # A one-phase car at 16 A (3680 W) on a 20 kW site drawing 15 kW: 8680 W left, all on one phase.
    assert headroom_a([0], 230, 3680, [16, 0, 0], site_w=15000, site_limit_w=20000) == 37


def test_zero_control_limit_means_no_site_power_limit():
    assert headroom_a(ALL, 230, 11040, [16, 16, 16], site_w=99000, site_limit_w=0) == NO_LIMIT_A


def test_phase_limit_uses_the_most_loaded_phase_the_vehicle_draws_on():
    # Phases 1..3 at 30/20/10 A with the charger's 10 A on each: others 20/10/0 A.
    assert headroom_a(ALL, 230, 6900, [10, 10, 10], site_a=[30, 20, 10], phase_limit_a=25) == 5
    # Drawing on one phase: only that phase matters, L1 ...
    assert headroom_a([0], 230, 2300, [10, 0, 0], site_a=[12, 24, 24], phase_limit_a=25) == 23
    # ... or L2 for a charger wired with its L1 on the site's L2.
    assert headroom_a([1], 230, 2300, [0, 10, 0], site_a=[24, 12, 24], phase_limit_a=25) == 23


def test_the_tightest_limit_wins():
    a = headroom_a(ALL, 230, 0, [0, 0, 0], cap_w=6900, site_w=0, site_limit_w=20000, site_a=[0, 0, 0], phase_limit_a=25)
    assert a == 10


def test_unknown_site_readings_impose_nothing_here():
    # (Stale meter data is the caller's fallback decision, not a limit of zero.)
    assert headroom_a(ALL, 230, 0, [0, 0, 0], site_w=None, site_limit_w=20000, site_a=None, phase_limit_a=25) == NO_LIMIT_A


def test_wiring_rotates_the_chargers_conductors_onto_the_supply():
    assert wiring(0, 3) == [0, 1, 2]
    assert wiring(1, 3) == [1, 2, 0]
    assert wiring(2, 1) == [2]


def test_drawing_phases_are_those_meter1_sees_carrying_current():
    assert drawing_phases([16.1, 0.0, 0.2], 3) == [0]
    assert drawing_phases([16.1, 15.9, 16.0], 3) == [0, 1, 2]
    assert drawing_phases([0.0, 0.0, 0.0], 3) == []
    assert drawing_phases([16.0, 16.0, 16.0], 1) == [0]


def test_own_draw_is_zero_while_the_contactor_is_open_whatever_is_offered():
    assert own_draw(False, 230, [0, 1, 2], ALL, 32, sensor_a=-1) == (0, 0, [0, 0, 0], [0, 0, 0])


def test_own_draw_measured_per_phase_lands_on_the_wired_supply_phases():
    low_w, high_w, low, high = own_draw(True, 230, [1, 2, 0], ALL, 16, currents=[16, 0, 0])
    assert low == high == [0, 16, 0]
    assert low_w == high_w == 16 * 230


def test_own_draw_from_total_power_is_bounded_per_phase():
    # 11040 W = 48 A over three phases offered 16 A each: at least 16 A on each.
    low_w, high_w, low, high = own_draw(True, 230, [0, 1, 2], ALL, 16, power_w=11040)
    assert low_w == high_w == 11040
    assert low == [16, 16, 16] and high == [48, 48, 48]
    # 3680 W could all be on one phase: none of them certainly carries any.
    _, _, low, high = own_draw(True, 230, [0, 1, 2], ALL, 16, power_w=3680)
    assert low == [0, 0, 0] and high == [16, 16, 16]


def test_own_draw_from_the_board_sensor_is_certain_on_one_phase_only():
    low_w, high_w, low, high = own_draw(True, 230, [0, 1, 2], ALL, 16, sensor_a=16)
    assert (low_w, high_w) == (16 * 230, 48 * 230)
    assert low == [0, 0, 0] and high == [16, 16, 16]
    low_w, high_w, low, high = own_draw(True, 230, [2], [0], 16, sensor_a=16)
    assert (low_w, high_w) == (3680, 3680) and low == high == [0, 0, 16]


def test_own_draw_unmeasured_is_between_nothing_and_the_offer():
    low_w, high_w, low, high = own_draw(True, 230, [0, 1, 2], ALL, 16)
    assert (low_w, high_w) == (0, 11040)
    assert low == [0, 0, 0] and high == [16, 16, 16]


def test_an_offer_rises_only_on_the_lower_bound():
    assert available_a(11, 11, 30) == 11  # held, not raised on what may not flow
    assert available_a(11, 14, 30) == 14  # raised on what certainly is spare
    assert available_a(0, 4, 15) == 4  # nothing stands: only the certain headroom


def test_a_standing_offer_falls_when_even_the_upper_bound_cannot_cover_it():
    assert available_a(16, 2, 12) == 12
    assert available_a(16, -5, 3) == 3


def test_a_waiting_vehicle_cannot_make_the_headroom_climb():
    # Issue 12: house 3 kW, limit 11 kW, 32 A asked, the vehicle waiting in B
    # (contactor open). Poll after poll the headroom stays at 11 A.
    lim = LoadLimiter()
    offer = 0
    for t in range(0, 30000, 1000):
        low_w, high_w, low, high = own_draw(False, 230, [0, 1, 2], ALL, offer)
        a = available_a(
            min(offer, lim.limit_a),
            headroom_a(ALL, 230, low_w, low, site_w=3000, site_limit_w=11000),
            headroom_a(ALL, 230, high_w, high, site_w=3000, site_limit_w=11000),
        )
        offer = min(32, lim.update(t, a))
        assert offer == 11


def test_an_unmeasured_offer_that_does_not_flow_is_not_given_back_again_and_again():
    # Contactor closed, nothing measures the draw, the vehicle draws nothing:
    # the offer is held, never compounded.
    lim = LoadLimiter()
    offer = 11
    lim.update(0, 11)
    for t in range(1000, 30000, 1000):
        low_w, high_w, low, high = own_draw(True, 230, [0, 1, 2], ALL, offer)
        a = available_a(
            min(offer, lim.limit_a),
            headroom_a(ALL, 230, low_w, low, site_w=3000, site_limit_w=11000),
            headroom_a(ALL, 230, high_w, high, site_w=3000, site_limit_w=11000),
        )
        offer = min(32, lim.update(t, a))
        assert offer == 11


def test_limit_falls_at_once_and_rises_only_with_a_margin():
    lim = LoadLimiter()
    assert lim.update(0, 16) == 16
    assert lim.update(1000, 12) == 12
    assert lim.update(2000, 13) == 12  # one ampere more is noise
    assert lim.update(3000, 14) == 14


def test_below_six_amperes_pauses_and_resumes_only_after_a_steady_margin():
    lim = LoadLimiter()
    lim.update(0, 16)
    assert lim.update(1000, 5) == 5 and lim.paused
    # Hovering around the threshold does not resume.
    t = 2000
    for a in (6, 6, 5, 6, 6, 5, 6):
        assert lim.update(t, a) < MIN_A and lim.paused
        t += 1000
    # Enough, but not yet for long enough.
    assert lim.update(t, 8) < MIN_A
    assert lim.update(t + RESUME_HOLD_MS - 1, 8) < MIN_A
    # A dip restarts the wait.
    assert lim.update(t + RESUME_HOLD_MS, 6) < MIN_A
    t2 = t + RESUME_HOLD_MS + 1
    assert lim.update(t2, 9) < MIN_A
    assert lim.update(t2 + RESUME_HOLD_MS, 9) == 9 and not lim.paused


def test_negative_headroom_pauses_at_zero():
    lim = LoadLimiter()
    assert lim.update(0, -7) == 0 and lim.paused
