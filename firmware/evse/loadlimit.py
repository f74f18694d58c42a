"""Load management (ControlStrategy 1): how the limit follows what the site
can spare (evse.headroom works that out), without flapping.

The kernel then applies ``limit_a`` under its own rules: a lower offer at the
next permitted duty change (at most one per 5 s), nothing below 6 A.
"""

from evse.compat import const

NO_LIMIT_A = const(80)  # the highest current the WebAPI can set
MIN_A = const(6)  # IEC 61851-1: the least a PWM may offer
RISE_MARGIN_A = const(2)  # the limit rises only when this much more is available
RESUME_MARGIN_A = const(1)  # after a pause, resume only with this much above 6 A ...
RESUME_HOLD_MS = const(15000)  # ... available this long without a break


class LoadLimiter:
    """Follows ``evse.headroom.available_a`` with hysteresis.

    Down at once (the site must not be overloaded; the kernel still waits for
    its next permitted duty change, except to stop). Up only when
    RISE_MARGIN_A more is available, so measurement noise around a whole
    ampere does not move the offer back and forth. Below 6 A the session pauses; it resumes when at least
    6 A + RESUME_MARGIN_A has been available for RESUME_HOLD_MS, so a site
    hovering around the threshold does not switch the vehicle on and off.
    """

    def __init__(self):
        self.limit_a = NO_LIMIT_A
        self.paused = False
        self._enough_since = -1  # when the available current last rose enough to resume

    def update(self, now_ms, avail_a):
        if avail_a < MIN_A:
            self.paused = True
            self.limit_a = avail_a if avail_a > 0 else 0
            self._enough_since = -1
            return self.limit_a
        if self.paused:
            if avail_a < MIN_A + RESUME_MARGIN_A:
                self._enough_since = -1
                return self.limit_a
            if self._enough_since < 0:
                self._enough_since = now_ms
            if now_ms - self._enough_since < RESUME_HOLD_MS:
                return self.limit_a
            self.paused = False
            self.limit_a = avail_a
        elif avail_a < self.limit_a or avail_a >= self.limit_a + RISE_MARGIN_A:
            self.limit_a = avail_a
        return self.limit_a
