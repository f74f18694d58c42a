"""Load management (ControlStrategy 1): the current the charger may offer,
from what the site can spare. Pure arithmetic, no clock reads: the caller
passes the time and the readings.

    wiring()        which supply phase each of the charger's conductors is on
    own_draw()      bounds of what the charger itself draws now, per phase
    headroom_a()    what the limits leave for the charger, given its own draw
    available_a()   the offer the bounds allow: rises only on the lower one

(evse.loadlimit's LoadLimiter turns that into the kernel's ``limit_a``.)
Imported only while load management is on: a charger without it keeps the
heap these take.

Phases are supply phases, 0..2 for L1..L3 of the site (what meter 2 and
PhaseCurrentLimit speak of); ``wiring`` maps the charger's own conductors
onto them (SupplyPhaseL1: a charger wired with a phase rotation).

Why the headroom can never be larger than the site has: the site meter
already counts the charger's draw, so the charger gives its own draw back
before sharing out what is left, and it gives back only the *lower* bound of
that draw: 0 with the contactor open, what is measured while it is closed.
An offer is raised only on that lower bound. The upper bound (the offer
itself, where nothing measures the draw) may only keep an offer that
already stands, never raise one: so an offer that is not flowing cannot be
given back again and again (the runaway of issue 12).
"""

from evse.compat import const
from evse.loadlimit import NO_LIMIT_A

DRAWING_A = const(1)  # a phase carrying at least this much is one the vehicle draws on


def wiring(first, count):
    """The supply phase (0..2) of each of the charger's ``count`` conductors,
    its L1 being wired to supply phase ``first`` (0..2) and the others
    following in rotation (L1 L2 L3 -> L2 L3 L1 for first 1)."""
    return [(first + k) % 3 for k in range(count)]


def drawing_phases(currents, count):
    """Which of the charger's first ``count`` conductors carry current, from
    meter 1's phase currents; [] when none does (yet)."""
    return [k for k in range(min(count, len(currents))) if currents[k] >= DRAWING_A]


def own_draw(closed, voltage, wiring, drawing, offer_a, currents=None, power_w=None, sensor_a=-1):
    """Bounds of the charger's own draw: (low_w, high_w, low_a, high_a), the
    last two per supply phase (lists of 3).

    ``closed``: the contactor is (or may be) closed. ``wiring``: the supply
    phase of each of the charger's conductors; ``drawing``: the conductors
    the vehicle draws on (or may). ``currents``: meter 1's phase currents,
    in conductor order, when fresh; ``power_w``: its total power when fresh;
    ``sensor_a``: the board's sensor, the highest phase current (-1 none).
    The low bound is what certainly flows, the high one what may: equal
    where a meter measures each phase.
    """
    low = [0, 0, 0]
    high = [0, 0, 0]
    if not closed:
        return 0, 0, low, high  # nothing can flow: exact
    n = len(drawing)
    if currents:
        total = 0
        for k in range(min(len(currents), len(wiring))):
            low[wiring[k]] = high[wiring[k]] = currents[k]
            total += currents[k]
        w = power_w if power_w is not None else total * voltage
        return w, w, low, high
    if power_w is not None:
        # The total is measured, not how it is spread: on one phase at most
        # all of it, at least what the other phases cannot carry (each at
        # most the offer; a vehicle drawing more is stopped by the kernel).
        total_a = power_w / voltage
        least = total_a - (n - 1) * offer_a
        for k in drawing:
            low[wiring[k]] = least if least > 0 else 0
            high[wiring[k]] = total_a
        return power_w, power_w, low, high
    if sensor_a >= 0:
        # The highest phase current: at most that on each phase, and at
        # least on one of them (which one is only known when there is one).
        for k in drawing:
            high[wiring[k]] = sensor_a
        if n == 1:
            low[wiring[drawing[0]]] = sensor_a
        return sensor_a * voltage, sensor_a * voltage * n, low, high
    # Nothing measures it: at least nothing, at most the offer.
    for k in drawing:
        high[wiring[k]] = offer_a
    return 0, offer_a * voltage * n, low, high


def headroom_a(phases, voltage, own_w, own_a, cap_w=-1, site_w=None, site_limit_w=0, site_a=None, phase_limit_a=0):
    """The most the charger may draw per phase under every limit that
    applies, taking ``own_w``/``own_a`` (per supply phase) as its own draw.

    ``phases``: the supply phases the vehicle draws on; power is shared over
    these. ``cap_w``: EVSEPowerAvailable, the charger's own power cap (-1
    none). ``site_w``/``site_limit_w``: the site's power and ControlLimit (0
    none). ``site_a``/``phase_limit_a``: the site's phase currents and
    PhaseCurrentLimit (0 none). May return less than 6 (pause) or negative.
    """
    per_amp_w = voltage * len(phases)
    a = NO_LIMIT_A
    if cap_w >= 0:
        a = min(a, _floor(cap_w / per_amp_w))
    if site_limit_w > 0 and site_w is not None:
        a = min(a, _floor((site_limit_w - site_w + own_w) / per_amp_w))
    if phase_limit_a > 0 and site_a is not None:
        for p in phases:
            if p < len(site_a):
                a = min(a, _floor(phase_limit_a - site_a[p] + own_a[p]))
    return a


def available_a(standing_a, low_a, high_a):
    """The offer allowed: the headroom counting the lower bound of the own
    draw; or, no more than that, the offer standing now (``standing_a``) as
    long as the headroom counting the upper bound still covers it."""
    held = standing_a if standing_a < high_a else high_a
    return low_a if low_a > held else held


def _floor(x):
    return int(x // 1)
