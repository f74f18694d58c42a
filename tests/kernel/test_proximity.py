"""Proximity Pilot (case B): the cable rating from its PP resistor, at the band edges.

IEC 61851-1 Table B.2 gives each rating a range of resistance; a value in a gap
between two ranges reads as the lower current (conservative, as EVerest does),
and a value outside every range is invalid, never rounded to the nearest cable."""

from evse.proximity import cable_rating_a, resistance_ohm, pp_mv_for, PP_OPEN, PP_INVALID

PULLUP = 1000  # boards/sim.json
VREF = 3300

# A fine divider (a micro-volt ADC, in effect) puts a resistance exactly on the
# millivolt scale, so the band edges can be probed ohm by ohm.
FINE_VREF = 3300000

# (first ohm of the band, rating there, rating just below it)
EDGES = (
    (80, 63, PP_INVALID),  # below 80 ohm: no cable has that, PP shorted
    (141, 32, 63),  # 63 A up to 140 ohm; the gap up to 164 reads as 32 A
    (309, 20, 32),  # 32 A up to 308 ohm; the gap up to 400 reads as 20 A
    (937, 13, 20),  # 20 A up to 936 ohm; the gap up to 1100 reads as 13 A
    (2461, PP_INVALID, 13),  # 13 A up to 2460 ohm; above: no rating
)

# IEC 61851-1 Table B.2: the range the EVSE reads as each rating.
IEC_RANGES = ((80, 140, 63), (164, 308, 32), (400, 936, 20), (1100, 2460, 13))
GAPS = ((141, 163, 32), (309, 399, 20), (937, 1099, 13))


def _mv_for_exact(ohm, pullup, vref):
    """The smallest divider voltage whose resistance reads >= ohm."""
    return -(-vref * ohm // (ohm + pullup))


def test_nominal_resistors_give_their_ratings():
    for ohm, amps in ((100, 63), (220, 32), (680, 20), (1500, 13)):
        assert cable_rating_a(pp_mv_for(ohm, PULLUP, VREF), PULLUP, VREF) == amps, ohm


def test_band_edges_ohm_by_ohm():
    for ohm, inside, below in EDGES:
        at = _mv_for_exact(ohm, PULLUP, FINE_VREF)
        assert resistance_ohm(at, PULLUP, FINE_VREF) == ohm
        assert resistance_ohm(at - 1, PULLUP, FINE_VREF) == ohm - 1
        assert cable_rating_a(at, PULLUP, FINE_VREF) == inside, (ohm, cable_rating_a(at, PULLUP, FINE_VREF))
        assert cable_rating_a(at - 1, PULLUP, FINE_VREF) == below, (ohm - 1, cable_rating_a(at - 1, PULLUP, FINE_VREF))
        one_in = _mv_for_exact(ohm + 1, PULLUP, FINE_VREF)
        assert cable_rating_a(one_in, PULLUP, FINE_VREF) == inside


def test_band_edges_at_the_boards_millivolt_resolution():
    """With the real 1 mV ADC: the first millivolt at or above each edge, and the one below."""
    for ohm, inside, below in EDGES:
        mv = 0
        while resistance_ohm(mv, PULLUP, VREF) < ohm:
            mv += 1
        assert resistance_ohm(mv - 1, PULLUP, VREF) < ohm
        assert cable_rating_a(mv, PULLUP, VREF) == inside, (ohm, mv)
        assert cable_rating_a(mv - 1, PULLUP, VREF) == below, (ohm, mv - 1)


def test_resistors_two_percent_either_side_of_each_edge():
    for ohm, inside, below in EDGES:
        hi = ohm * 102 // 100
        lo = ohm * 98 // 100
        assert cable_rating_a(pp_mv_for(hi, PULLUP, VREF), PULLUP, VREF) == inside, hi
        assert cable_rating_a(pp_mv_for(lo, PULLUP, VREF), PULLUP, VREF) == below, lo


def test_every_resistance_of_an_iec_range_reads_its_rating():
    for lo, hi, amps in IEC_RANGES:
        for ohm in range(lo, hi + 1):
            mv = _mv_for_exact(ohm, PULLUP, FINE_VREF)
            assert cable_rating_a(mv, PULLUP, FINE_VREF) == amps, (ohm, amps)


def test_a_resistance_between_two_ranges_reads_as_the_lower_current():
    for lo, hi, amps in GAPS:
        for ohm in range(lo, hi + 1):
            mv = _mv_for_exact(ohm, PULLUP, FINE_VREF)
            assert cable_rating_a(mv, PULLUP, FINE_VREF) == amps, (ohm, amps)


def test_resistances_outside_the_ranges_are_invalid_not_the_nearest_cable():
    for ohm in (0, 10, 60, 79, 2461, 2700, 5000, 20000):
        mv = _mv_for_exact(ohm, PULLUP, FINE_VREF)
        assert cable_rating_a(mv, PULLUP, FINE_VREF) == PP_INVALID, ohm


def test_open_and_shorted_lines():
    assert pp_mv_for(None, PULLUP, VREF) == VREF
    assert cable_rating_a(VREF, PULLUP, VREF) == PP_OPEN
    assert cable_rating_a(pp_mv_for(None, PULLUP, VREF), PULLUP, VREF) == PP_OPEN
    assert resistance_ohm(VREF, PULLUP, VREF) == -1
    # 97 % of Vref and up reads open; just below is a (huge, invalid) resistance.
    assert cable_rating_a(VREF * 97 // 100, PULLUP, VREF) == PP_OPEN
    assert cable_rating_a(VREF * 97 // 100 - 1, PULLUP, VREF) == PP_INVALID
    # A shorted PP (0 V) is invalid, not open.
    assert resistance_ohm(0, PULLUP, VREF) == 0
    assert cable_rating_a(0, PULLUP, VREF) == PP_INVALID
    assert cable_rating_a(-5, PULLUP, VREF) == PP_INVALID
    assert PP_OPEN == 0 and PP_INVALID < 0


def test_divider_model_round_trip():
    for ohm in (100, 220, 680, 1500, 80, 141, 309, 937, 2461):
        r = resistance_ohm(pp_mv_for(ohm, PULLUP, VREF), PULLUP, VREF)
        # One ADC millivolt is a few ohm at these values.
        assert abs(r - ohm) <= ohm // 100 + 5, (ohm, r)
