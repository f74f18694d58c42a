"""Time for the runtime: real (the hardware's ticks) or virtual (the simulator's).

The kernel sees wrapping millisecond ticks (evse.compat); the WebAPI's
TimeStamp needs milliseconds since start, which must not wrap. Both clocks
keep that uptime as whole seconds plus the milliseconds beyond them, small
ints on a 32-bit MicroPython for 34 years, where a count of milliseconds
would become a heap-allocated long int after 12.4 days. ``ticks()``, the
control tick's only call, allocates nothing at any uptime.
"""

from evse.compat import ticks_add, ticks_diff, TICKS_MASK

try:
    from time import ticks_ms as _hw_ticks
except ImportError:  # CPython
    from time import monotonic

    def _hw_ticks():
        return int(monotonic() * 1000) & TICKS_MASK


class _Uptime:
    """Seconds and milliseconds since start."""

    def __init__(self, ms=0):
        self._s = ms // 1000
        self._ms = ms % 1000

    def _add(self, ms):
        ms += self._ms
        if ms >= 1000:
            self._s += ms // 1000
            ms %= 1000
        self._ms = ms

    def uptime_ms(self):
        """Milliseconds since start: past 12.4 days a long int on a 32-bit
        port, so for answers and logs, never for the control tick."""
        return self._s * 1000 + self._ms


class RealClock(_Uptime):
    virtual = False

    def __init__(self):
        super().__init__()
        self._last = self.ticks()

    def ticks(self):
        # The 64-bit unix port's ticks_ms() wraps at 2^62, not 2^30.
        return _hw_ticks() & TICKS_MASK

    def uptime_ms(self):
        # Called at least every 6.2 days (half the ticks' period) by the
        # metering task, so no wrap of the ticks is missed.
        now = self.ticks()
        self._add(ticks_diff(now, self._last))
        self._last = now
        return super().uptime_ms()


class VirtualClock(_Uptime):
    """Time that moves only when the simulator's control API advances it.

    ``start_ms``: the uptime to start from (tests start days in, or just
    before the ticks wrap)."""

    virtual = True

    def __init__(self, start_ms=0):
        super().__init__(start_ms)
        self._ticks = start_ms & TICKS_MASK

    def advance(self, ms):
        """Move time on by ``ms`` (0 <= ms < 2^29)."""
        self._ticks = ticks_add(self._ticks, ms)
        self._add(ms)

    def ticks(self):
        return self._ticks
