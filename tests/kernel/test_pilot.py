"""Control Pilot: level bands, hysteresis, debounce, calibration and the duty table."""

from evse import pilot
from evse.pilot import level_of, PilotClassifier, duty_permille, current_of_duty, adc_to_cp_mv, cp_mv_to_adc
from evse.compat import TICKS_PERIOD, ticks_add
from evse.states import CP_UNKNOWN, CP_A, CP_B, CP_C, CP_D, CP_E, CP_F, CP_LETTERS

P12 = 2900  # boards/sim.json calibration
M12 = 100


def _name(level):
    return CP_LETTERS[level]


def _check(table, with_current):
    bad = []
    for row in table:
        if with_current:
            current, mv, want = row
            got = level_of(mv, current)
        else:
            mv, want = row
            current = CP_UNKNOWN
            got = level_of(mv)
        if got != want:
            bad.append("%s@%d mV -> %s, want %s" % (_name(current), mv, _name(got), _name(want)))
    assert not bad, "; ".join(bad)


def test_nominal_levels():
    _check(((12000, CP_A), (9000, CP_B), (6000, CP_C), (3000, CP_D), (0, CP_E), (-12000, CP_F)), False)


def test_band_edges_without_history():
    # Boundaries halfway between the nominal levels; a boundary belongs to the upper band.
    _check(
        (
            (10500, CP_A),
            (10499, CP_B),
            (7500, CP_B),
            (7499, CP_C),
            (4500, CP_C),
            (4499, CP_D),
            (1500, CP_D),
            (1499, CP_E),
            (-6000, CP_E),
            (-6001, CP_F),
            (100000, CP_A),
            (-100000, CP_F),
        ),
        False,
    )


def test_each_level_entered_within_1v_of_nominal():
    table = []
    for nominal, level in ((12000, CP_A), (9000, CP_B), (6000, CP_C), (3000, CP_D), (0, CP_E)):
        for delta in (-1000, -500, 0, 500, 1000):
            table.append((nominal + delta, level))
    for mv in (-13000, -12000, -11000):
        table.append((mv, CP_F))
    _check(table, False)


def test_hysteresis_keeps_the_level_500mv_beyond_the_boundary():
    _check(
        (
            # (current level, CP mV, classified)
            (CP_A, 10000, CP_A),
            (CP_A, 9999, CP_B),
            (CP_B, 10999, CP_B),
            (CP_B, 11000, CP_A),
            (CP_B, 7000, CP_B),
            (CP_B, 6999, CP_C),
            (CP_C, 7999, CP_C),
            (CP_C, 8000, CP_B),
            (CP_C, 4000, CP_C),
            (CP_C, 3999, CP_D),
            (CP_D, 4999, CP_D),
            (CP_D, 5000, CP_C),
            (CP_D, 1000, CP_D),
            (CP_D, 999, CP_E),
            (CP_E, 1999, CP_E),
            (CP_E, 2000, CP_D),
            (CP_E, -6500, CP_E),
            (CP_E, -6501, CP_F),
            (CP_F, -5501, CP_F),
            (CP_F, -5500, CP_E),
            # A jump across several bands lands in the band of the voltage.
            (CP_A, 6000, CP_C),
            (CP_C, 12000, CP_A),
            (CP_B, 0, CP_E),
            (CP_E, 9000, CP_B),
        ),
        True,
    )
    assert pilot.HYSTERESIS_MV == 500


def _feed(c, samples):
    """Feed (time, mV) samples; the levels after each."""
    out = []
    for now, mv in samples:
        out.append(c.update(now, mv))
    return out


def test_classifier_debounce_takes_a_level_after_20ms():
    c = PilotClassifier()
    assert c.level == CP_UNKNOWN
    assert _feed(c, ((0, 12000), (10, 12000), (20, 12000))) == [CP_UNKNOWN, CP_UNKNOWN, CP_A]
    assert c.settled
    # A new level: candidate at 30 ms, taken once it held DEBOUNCE_MS (at 50 ms).
    assert _feed(c, ((30, 9000), (40, 9000), (50, 9000))) == [CP_A, CP_A, CP_B]
    assert pilot.DEBOUNCE_MS == 20


def test_classifier_ignores_glitches_shorter_than_the_debounce():
    c = PilotClassifier()
    _feed(c, ((0, 9000), (10, 9000), (20, 9000)))
    assert c.level == CP_B
    # 10 ms of C, back to B: nothing changes.
    assert _feed(c, ((30, 6000), (40, 9000), (50, 9000))) == [CP_B, CP_B, CP_B]
    # A candidate that is replaced restarts the debounce.
    levels = _feed(c, ((60, 6000), (70, 3000), (80, 3000), (90, 3000)))
    assert levels == [CP_B, CP_B, CP_B, CP_D]
    # Within hysteresis of the current level there is no candidate at all.
    assert _feed(c, ((100, 4900), (110, 4900), (120, 4900), (130, 4900))) == [CP_D] * 4
    assert c.settled


def test_classifier_not_settled_while_a_candidate_waits():
    c = PilotClassifier()
    _feed(c, ((0, 12000), (10, 12000), (20, 12000)))
    c.update(30, 6000)
    assert not c.settled
    assert c.level == CP_A


def test_classifier_reset_forgets_the_level():
    c = PilotClassifier()
    _feed(c, ((0, 6000), (10, 6000), (20, 6000)))
    assert c.level == CP_C
    c.reset(100)
    assert c.level == CP_UNKNOWN
    assert _feed(c, ((110, 6000), (120, 6000), (130, 6000))) == [CP_UNKNOWN, CP_UNKNOWN, CP_C]


def test_classifier_debounce_across_the_tick_wrap():
    c = PilotClassifier()
    t0 = TICKS_PERIOD - 10
    c.reset(t0)
    levels = _feed(c, ((t0, 9000), (ticks_add(t0, 10), 9000), (ticks_add(t0, 20), 9000)))
    assert ticks_add(t0, 20) == 10
    assert levels == [CP_UNKNOWN, CP_UNKNOWN, CP_B]


def test_calibration_maps_the_two_points():
    assert adc_to_cp_mv(P12, P12, M12) == 12000
    assert adc_to_cp_mv(M12, P12, M12) == -12000
    assert adc_to_cp_mv((P12 + M12) // 2, P12, M12) == 0
    for mv in (12000, 9000, 6000, 3000, 0, -12000):
        assert adc_to_cp_mv(cp_mv_to_adc(mv, P12, M12), P12, M12) == mv


def test_calibration_round_trip_within_one_adc_step():
    step = 24000 // (P12 - M12) + 1  # CP mV per ADC mV, rounded up
    for mv in range(-12000, 12001, 137):
        back = adc_to_cp_mv(cp_mv_to_adc(mv, P12, M12), P12, M12)
        assert abs(back - mv) <= step, (mv, back)


def test_duty_table_edges():
    table = (
        # (amperes, per mille)
        (0, pilot.PWM_OFF),
        (5, pilot.PWM_OFF),  # below 6 A: no offer, steady +12 V
        (6, 100),  # 10 %
        (10, 167),  # 16.67 % rounded half up
        (16, 267),
        (32, 533),
        (51, 850),  # 85 %: last point of A / 0.6
        (52, 848),  # 52 / 2.5 + 64 = 84.8 %
        (63, 892),
        (80, 960),  # 96 %
        (81, 960),  # capped at 80 A
        (200, 960),
    )
    for amps, permille in table:
        assert duty_permille(amps) == permille, (amps, duty_permille(amps), permille)


def test_duty_formulas_over_the_whole_range():
    for a in range(6, 52):
        # duty % = A / 0.6, per mille rounded to the nearest.
        assert abs(duty_permille(a) * 6 - a * 100) <= 3, a
    for a in range(52, 81):
        assert duty_permille(a) == a * 4 + 640, a  # (A / 2.5 + 64) %, exact in per mille


def test_current_of_duty_edges():
    table = (
        (0, 0),
        (99, 0),  # below 10 %: not a current offer
        (100, 6),
        (267, 16),
        (850, 51),
        (851, 52),  # (85.1 - 64) * 2.5 = 52.75 A, rounded down
        (892, 63),
        (960, 80),
        (961, 0),  # above 96 %: not a current offer
        (1000, 0),
    )
    for permille, amps in table:
        assert current_of_duty(permille) == amps, (permille, current_of_duty(permille), amps)


def test_current_of_duty_inverts_the_duty_table():
    """What a vehicle reads back is the offer (to within the per-mille rounding)."""
    for a in range(6, 81):
        back = current_of_duty(duty_permille(a))
        if a == 52:
            # 52 A gives 84.8 %, which the <= 85 % rule reads as 50.88 A: the
            # standard's two formulas overlap there; the vehicle reads less, never more.
            assert back == 50
            continue
        # A / 0.6 rounded to a whole per mille may read 0.02 A low, hence the floor.
        assert back == a or back == a - 1, (a, back)
        # In centi-amperes: the vehicle never reads more than 0.03 A above the offer.
        permille = duty_permille(a)
        read_ca = permille * 6 if permille <= 850 else (permille - 640) * 25
        assert read_ca - a * 100 <= 3, (a, read_ca)
    for permille in range(100, 961):
        a = current_of_duty(permille)
        assert 6 <= a <= 80
        # Re-encoding never offers more than the vehicle read.
        assert current_of_duty(duty_permille(a)) <= a
