"""Plug lock sequencing for Mode 3 case B sockets.

Two actuators are common: a bistable solenoid, moved by a short pulse and
left unpowered, and a geared servo/motor, driven until its feedback switch
confirms the end position. Either way the lock is only *locked* once the
feedback says so; a lock that does not follow within its time is failed.

The lock moves only when the kernel asks (``want``). Until the first wish it
just reports where its switch says it is: a bistable lock keeps its position
through a power cycle, so after a reboot it may well be locked, on a live
socket, and nothing may move it before the kernel has looked at the contactor.
Without a switch the position is unknown until the first move, so the first
wish always drives.

A confirmed position is given up only when the switch disagrees for CHECK_MS:
one bad sample of the switch does not open the contactor under load.
"""

from evse.compat import const, ticks_diff
from evse.compat import held

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
        self.wanted = False  # the kernel has asked for a position
        self.want_locked = False
        self.locked = False  # confirmed position (by feedback, or assumed)
        self.failed = False
        self.drive = DRIVE_OFF
        self._moving = False
        self._since = 0  # move start, move end, last agreeing sample or failure
        self._attempts = 0
        self._agrees = True  # the switch read where the lock was sent, last step

    @property
    def busy(self):
        """Moving, waiting to check or retry: a timer is pending."""
        return self.wanted and (self._moving or self.failed or not self._agrees or self.locked != self.want_locked)

    def want(self, locked, now):
        """Ask for a position; a change of mind starts a fresh attempt."""
        if self.wanted and locked == self.want_locked:
            return
        self.wanted = True
        self.want_locked = locked
        self._attempts = 0
        self.failed = False
        if self.has_feedback and self.locked == locked and not self._moving:
            self._since = now  # already there: nothing to move
            return
        self._start(now)

    def _start(self, now):
        self.locked = False  # moving: not confirmed locked until the feedback says so
        self._moving = True
        self._since = now
        self._attempts += 1
        self.drive = DRIVE_LOCK if self.want_locked else DRIVE_UNLOCK

    def step(self, now, feedback_locked):
        """Advance the sequence; ``feedback_locked`` is the lock switch."""
        self._since = held(now, self._since)
        if not self.wanted:
            self.locked = feedback_locked and self.has_feedback
            return
        if not self.has_feedback:
            feedback_locked = self.want_locked if not self._moving else self.locked
        elapsed = ticks_diff(now, self._since)
        self._agrees = feedback_locked == self.want_locked
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
            self._since = now
            return
        if ticks_diff(now, self._since) < CHECK_MS:
            return  # keep what was confirmed while the switch may still settle
        # The lock is not where it was sent (never got there, or was forced).
        self.locked = feedback_locked
        if self._attempts >= ATTEMPTS:
            self.failed = True
            self._since = now
        else:
            self._start(now)
