"""Time for the runtime: real (the hardware's ticks) or virtual (the simulator's).

The kernel sees wrapping millisecond ticks (evse.compat); the WebAPI's
TimeStamp needs milliseconds since start, which must not wrap.
"""

from evse.compat import ticks_diff, TICKS_PERIOD

try:
    from time import ticks_ms as _hw_ticks
except ImportError:  # CPython
    from time import monotonic

    def _hw_ticks():
        return int(monotonic() * 1000) % TICKS_PERIOD


class RealClock:
    virtual = False

    def __init__(self):
        self._start = _hw_ticks()
        self._last = self._start
        self._uptime = 0

    def ticks(self):
        return _hw_ticks() % TICKS_PERIOD

    def uptime_ms(self):
        now = _hw_ticks()
        self._uptime += ticks_diff(now, self._last)
        self._last = now
        return self._uptime


class VirtualClock:
    """Time that moves only when the simulator's control API advances it."""

    virtual = True

    def __init__(self):
        self.now_ms = 0

    def ticks(self):
        return self.now_ms % TICKS_PERIOD

    def uptime_ms(self):
        return self.now_ms
