"""`evsectl bench`'s load-management figures (host/evsectl/bench_site.py):
the profile and the arithmetic, and a short run of the real thing."""

import pytest

from evsectl import bench_site


def test_profile_has_steps_a_kettle_and_a_cycling_heat_pump():
    at = bench_site.household_a
    assert at(0)[0] - at(1000)[0] > 4  # heat pump on, then off
    assert at(1250)[0] - at(1250)[1] > 9  # kettle on L1
    assert at(2500)[1] - at(2500)[0] > 15  # oven on L2
    assert all(at(t) == at(t + 1) for t in (100, 1000, 5000))  # steps, not ramps


def test_allowed_current_is_the_tightest_limit_and_nothing_below_6_a():
    assert bench_site.allowed_a([0, 0, 0]) == pytest.approx(11000 / 690)  # 11 kW over 3 x 230 V
    assert bench_site.allowed_a([20, 0, 0]) == 0  # 25 A a phase: 5 A left on L1
    assert bench_site.allowed_a([10, 10, 10]) == 0  # 6.9 kW used: 5.9 A left
    assert bench_site.allowed_a([2, 2, 2]) == (11000 - 6 * 230) / 690


def test_profile_alone_stays_within_the_limits():
    for t in range(0, bench_site.DURATION_S, 10):
        house = bench_site.household_a(t)
        assert sum(house) * 230 < bench_site.LIMIT_W and max(house) < bench_site.PHASE_LIMIT_A - 0.3, t


def test_only_the_chargers_part_of_an_excess_counts():
    x = bench_site._charger_excess_w
    assert x([26, 0, 0], [0, 0, 0]) == 0  # the household alone: nothing the charger can do
    assert x([20, 0, 0], [10, 10, 10]) == 5 * 230  # L1 5 A over, all of it the charger's
    assert x([24, 0, 0], [2, 0, 0]) == 1 * 230  # 1 A over: the charger's 2 A cover it
    assert x([16, 16, 16], [0, 0, 0]) == 0 and x([10, 10, 10], [10, 10, 10]) > 0  # 13.8 kW > 11 kW


def test_a_short_run_never_overloads_the_site(tmp_path):
    figures = bench_site.run(tmp_path, duration_s=40)
    assert figures["site_overload_ws"] == 0 and figures["site_overload_s"] == 0
    assert 0.5 < figures["site_limit_utilisation"] <= 1.01
    assert figures["site_offer_changes"] <= 2
