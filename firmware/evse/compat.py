"""What the kernel needs from MicroPython that CPython spells differently."""

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


# Kernel time is a millisecond counter that wraps like time.ticks_ms() on a
# 32-bit MicroPython such as the ESP32's: period 2^30. Small ints there run
# from -2^30 to 2^30 - 1, so every value below, and every intermediate of
# ticks_diff and ticks_add, stays inside that range: the control tick never
# makes a heap-allocated long int, at any uptime and at the counter's wrap.
TICKS_MASK = const(0x3FFFFFFF)  # period - 1
_TICKS_HALF = const(0x20000000)

# The period itself is one more than the largest small int: a long int on a
# 32-bit port, for tests and set-up only (arithmetic with it allocates).
TICKS_PERIOD = TICKS_MASK + 1


def ticks_diff(later, earlier):
    """Signed difference ``later - earlier`` of two wrapping tick values, in
    [-2^29, 2^29), as MicroPython's time.ticks_diff with a 2^30 period."""
    # Both reduced to [0, 2^30) first, their difference lies in (-2^30, 2^30);
    # masked into [0, 2^30), flipping bit 29 and taking 2^29 off reads it as
    # a signed 30-bit number. (Adding 2^29 before masking, the textbook way,
    # passes through 2^30 and more.)
    return ((((later & TICKS_MASK) - (earlier & TICKS_MASK)) & TICKS_MASK) ^ _TICKS_HALF) - _TICKS_HALF


def ticks_add(ticks, delta):
    """``ticks`` moved on by ``delta`` (negative: back), wrapping in [0, 2^30)."""
    # ticks + delta can pass 2^30; compare against the room left instead.
    over = (ticks & TICKS_MASK) - (TICKS_MASK - (delta & TICKS_MASK))  # ticks + delta - TICKS_MASK, wrapped
    return over - 1 if over > 0 else over + TICKS_MASK


# Saturating time stamps: a timer that ran out stays run out. ticks_diff
# can tell the age of a stamp only up to 2^29 ms (6.2 days), after which it
# reads as negative (or small again), so an expired timer would look fresh.
# Every stamp a kernel module keeps is therefore passed through held() on
# every step: no stamp is ever older than HORIZON_MS, far beyond any timeout
# and well inside what ticks_diff can express. The step runs at least once
# a second, so nothing between two steps can carry a stamp past the range.
# (Here rather than in a module of its own: a module costs some 250 bytes
# of heap at import.)
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
