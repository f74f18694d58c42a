"""Proximity Pilot (Mode 3 case B): the cable's rating from its PP resistor.

The board pulls PP up to ``vref_mv`` through ``pullup_ohm``; the cable's
resistor to PE forms the lower leg of the divider.
"""

from evse.compat import const

PP_OPEN = const(0)  # no cable (or a broken PP wire)
PP_INVALID = const(-1)  # a resistance no cable rating matches

# IEC 61851-1 Table B.2: the resistance ranges the EVSE reads as each
# rating (nominal 100/220/680/1500 ohm). A value in the gap between two
# ranges reads as the lower current, as EVerest does; a value outside all of
# them (below 80 ohm, above 2460 ohm) is invalid, never rounded to a cable.
_VALID_FROM = const(80)
_63A_UPTO = const(140)
_32A_UPTO = const(308)
_20A_UPTO = const(936)
_13A_UPTO = const(2460)


def resistance_ohm(pp_mv, pullup_ohm, vref_mv):
    """Resistance of the PP leg, or -1 when the line is open."""
    if pp_mv <= 0:
        return 0
    if pp_mv * 100 >= vref_mv * 97:  # above ~32x the pull-up: nothing there
        return -1
    return pullup_ohm * pp_mv // (vref_mv - pp_mv)


def cable_rating_a(pp_mv, pullup_ohm, vref_mv):
    """Cable current rating in A, or PP_OPEN, or PP_INVALID."""
    r = resistance_ohm(pp_mv, pullup_ohm, vref_mv)
    if r < 0:
        return PP_OPEN
    if r < _VALID_FROM:
        return PP_INVALID
    if r <= _63A_UPTO:
        return 63
    if r <= _32A_UPTO:
        return 32
    if r <= _20A_UPTO:
        return 20
    if r <= _13A_UPTO:
        return 13
    return PP_INVALID


def pp_mv_for(resistance, pullup_ohm, vref_mv):
    """Divider voltage for a PP resistance (None = open); the simulator's model."""
    if resistance is None:
        return vref_mv
    return vref_mv * resistance // (resistance + pullup_ohm)
