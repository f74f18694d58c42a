"""Plug lock sequencing for Mode 3 case B sockets.

Two actuators are common: a bistable solenoid, moved by a short pulse and
left unpowered, and a geared servo/motor, driven until its feedback switch
confirms the end position. Either way the lock is only *locked* once the
feedback says so; a lock that does not follow within its time is failed.
"""

from evse.compat import const, ticks_diff

SOLENOID = const(0)
SERVO = const(1)

# Drive directions output to the HAL.
DRIVE_OFF = const(0)
DRIVE_LOCK = const(1)
DRIVE_UNLOCK = const(-1)

SOLENOID_PULSE_MS = const(300)
SERVO_TIMEOUT_MS = const(1500)
CHECK_MS = const(100)  # feedback must agree this long after the pulse
RETRY_MS = const(5000)  # a failed lock is retried this often
ATTEMPTS = const(3)


class PlugLock:
    def __init__(self, method=SOLENOID, has_feedback=True):
        self.method = method
        self.has_feedback = has_feedback
        self.want_locked = False
        self.locked = False  # confirmed position (by feedback, or assumed)
        self.failed = False
        self.drive = DRIVE_OFF
        self._moving = False
        self._since = 0
        self._attempts = 0

    @property
    def busy(self):
        """Moving, waiting to check or retry: a timer is pending."""
        return self._moving or self.failed or self.locked != self.want_locked

    def want(self, locked, now):
        """Ask for a position; a change of mind starts a fresh attempt."""
        if locked != self.want_locked:
            self.want_locked = locked
            self._attempts = 0
            self.failed = False
            self._start(now)

    def _start(self, now):
        self.locked = False  # moving: not confirmed locked until the feedback says so
        self._moving = True
        self._since = now
        self._attempts += 1
        self.drive = DRIVE_LOCK if self.want_locked else DRIVE_UNLOCK

    def step(self, now, feedback_locked):
        """Advance the sequence; ``feedback_locked`` is the lock switch."""
        if not self.has_feedback:
            feedback_locked = self.want_locked if not self._moving else self.locked
        elapsed = ticks_diff(now, self._since)
        if self._moving:
            if self.method == SERVO:
                done = feedback_locked == self.want_locked or elapsed >= SERVO_TIMEOUT_MS
                if not self.has_feedback:
                    done = elapsed >= SERVO_TIMEOUT_MS
                if done:
                    self.drive = DRIVE_OFF
                    self._moving = False
                    self._since = now
            elif elapsed >= SOLENOID_PULSE_MS:
                self.drive = DRIVE_OFF
                self._moving = False
                self._since = now
            if self._moving:
                return
            if not self.has_feedback:
                self.locked = self.want_locked
                return
        if self.failed:
            if elapsed >= RETRY_MS:
                self._attempts = 0
                self.failed = False
                self._start(now)
            return
        if feedback_locked == self.want_locked:
            self.locked = feedback_locked
            self._attempts = 0
            return
        self.locked = feedback_locked
        if ticks_diff(now, self._since) < CHECK_MS:
            return
        # The lock is not where it was sent (never got there, or was forced).
        if self._attempts >= ATTEMPTS:
            self.failed = True
            self._since = now
        else:
            self._start(now)
