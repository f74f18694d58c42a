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
