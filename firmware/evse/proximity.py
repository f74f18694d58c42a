"""Proximity Pilot (Mode 3 case B): the cable's rating from its PP resistor.

The board pulls PP up to ``vref_mv`` through ``pullup_ohm``; the cable's
resistor to PE forms the lower leg of the divider.
"""

from evse.compat import const

PP_OPEN = const(0)  # no cable (or a broken PP wire)
PP_INVALID = const(-1)  # a resistance no cable rating matches

# Upper bound (ohm, exclusive) of each rating's band: the geometric means
# between the nominal values 100/220/680/1500 ohm, outer limits from the
# tolerances used in practice.
_SHORT_BELOW = const(60)
_63A_BELOW = const(148)
_32A_BELOW = const(387)
_20A_BELOW = const(1010)
_13A_BELOW = const(2700)


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
    if r < _SHORT_BELOW:
        return PP_INVALID
    if r < _63A_BELOW:
        return 63
    if r < _32A_BELOW:
        return 32
    if r < _20A_BELOW:
        return 20
    if r < _13A_BELOW:
        return 13
    return PP_INVALID


def pp_mv_for(resistance, pullup_ohm, vref_mv):
    """Divider voltage for a PP resistance (None = open); the simulator's model."""
    if resistance is None:
        return vref_mv
    return vref_mv * resistance // (resistance + pullup_ohm)
