"""The contactor (main relay) and the check that it follows its command.

The board reads back the contactor's state (a mirror contact or a voltage
sense). After each command the feedback must agree within ``settle_ms``, and
keep agreeing: a contactor that stays closed is welded, one that does not
close (or drops out) is not closing. Either is latched by the kernel.

A real weld or a contactor that will not close persists, a glitch on the
feedback line does not: a disagreement latches only once it has lasted
CONFIRM_MS, counted from the last agreeing sample or from the end of the
settle window, whichever is later.
"""

from evse.compat import const, ticks_diff
from evse.compat import held

OK = const(0)
WELDED = const(1)
NOT_CLOSING = const(2)

SETTLE_MS = const(200)
CONFIRM_MS = const(50)


class Contactor:
    def __init__(self, has_feedback=True, settle_ms=SETTLE_MS):
        self.has_feedback = has_feedback
        self.settle_ms = settle_ms
        self.closed = False  # the command
        self.fault = OK
        self.since = 0  # when the command last changed (the kernel's reclose wait reads it)
        self._agreed = 0  # when the feedback last agreed with the command

    def command(self, close, now):
        if close != self.closed:
            self.closed = close
            self.since = now

    def step(self, now, feedback_closed):
        """Compare feedback with the command; sets ``fault`` when they disagree."""
        self.since = held(now, self.since)
        self._agreed = held(now, self._agreed)
        if not self.has_feedback or feedback_closed == self.closed:
            self._agreed = now
            return
        settled = ticks_diff(now, self.since) - self.settle_ms
        if settled < 0:
            return
        disagreeing = ticks_diff(now, self._agreed)
        if settled < disagreeing:
            disagreeing = settled
        if disagreeing >= CONFIRM_MS:
            self.fault = WELDED if feedback_closed else NOT_CLOSING
