"""Saturating time stamps: a timer that ran out stays run out.

Kernel time is ``ticks_ms``, which wraps every 2^30 ms; ``ticks_diff`` can
tell the age of a stamp only up to 2^29 ms (6.2 days), after which the age
reads as negative (or small again), so an expired timer would look fresh.
Every stamp a kernel module keeps is therefore passed through ``held()`` on
every step: no stamp is ever older than HORIZON_MS, far beyond any timeout
and well inside what ``ticks_diff`` can express. The step runs at least once
a second, so nothing between two steps can carry a stamp past the range.
"""

from evse.compat import const, ticks_add, ticks_diff

HORIZON_MS = const(1 << 28)  # 3.1 days


def held(now, since):
    """``since``, or a stamp HORIZON_MS before ``now`` if it is older.

    A stamp "in the future" can only be one that was never set (0 before the
    first step at a large tick value): it counts as long expired too.
    """
    age = ticks_diff(now, since)
    if age > HORIZON_MS or age < 0:
        return ticks_add(now, -HORIZON_MS)
    return since
