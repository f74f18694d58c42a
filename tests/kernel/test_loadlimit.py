"""Load management arithmetic (ControlStrategy 1): what the site's limits
leave for the charger, and how the limit follows it without flapping."""

from evse.loadlimit import available_a, LoadLimiter, MIN_A, NO_LIMIT_A, RESUME_HOLD_MS


def test_no_limit_configured_leaves_the_charger_its_own_maximum():
    assert available_a(3, 230, 0) == NO_LIMIT_A


def test_power_cap_is_shared_over_the_phases_and_rounded_down():
    assert available_a(3, 230, 0, cap_w=11040) == 16
    assert available_a(3, 230, 0, cap_w=11039) == 15
    assert available_a(1, 230, 0, cap_w=3680) == 16


def test_site_limit_gives_back_the_chargers_own_share():
    # Site 15 kW of which the charger draws 16 A x 3 x 230 = 11040 W: others 3960 W.
    # With a 20 kW limit the charger may take (20000 - 3960) / 690 = 23.2 -> 23 A.
    assert available_a(3, 230, 16, site_w=15000, site_limit_w=20000) == 23


def test_site_limit_exceeded_gives_less_than_the_charger_draws():
    assert available_a(3, 230, 16, site_w=22000, site_limit_w=20000) == 13


def test_zero_control_limit_means_no_site_power_limit():
    assert available_a(3, 230, 16, site_w=99000, site_limit_w=0) == NO_LIMIT_A


def test_phase_limit_uses_the_most_loaded_phase_the_charger_uses():
    # Phases 1..3 at 30/20/10 A with the charger's 10 A on each: others 20/10/0 A.
    assert available_a(3, 230, 10, site_a=[30, 20, 10], phase_limit_a=25) == 5
    # Charging on one phase: only L1 matters.
    assert available_a(1, 230, 10, site_a=[12, 24, 24], phase_limit_a=25) == 23


def test_the_tightest_limit_wins():
    a = available_a(3, 230, 0, cap_w=6900, site_w=0, site_limit_w=20000, site_a=[0, 0, 0], phase_limit_a=25)
    assert a == 10


def test_unknown_site_readings_impose_nothing_here():
    # (Stale meter data is the caller's fallback decision, not a limit of zero.)
    assert available_a(3, 230, 0, site_w=None, site_limit_w=20000, site_a=None, phase_limit_a=25) == NO_LIMIT_A


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
