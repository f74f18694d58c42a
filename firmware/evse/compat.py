"""What the kernel needs from MicroPython that CPython spells differently."""

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


# Kernel time is a millisecond counter that wraps like MicroPython's
# time.ticks_ms(), so it stays a small int (no heap allocation) on a
# 32-bit ESP32 however long the charger runs.
TICKS_PERIOD = const(1 << 30)
_TICKS_MASK = const((1 << 30) - 1)
_TICKS_HALF = const(1 << 29)


def ticks_diff(later, earlier):
    """Signed difference ``later - earlier`` of two wrapping tick values."""
    return ((later - earlier + _TICKS_HALF) & _TICKS_MASK) - _TICKS_HALF


def ticks_add(ticks, delta):
    return (ticks + delta) & _TICKS_MASK
