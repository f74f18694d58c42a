"""What the cFos manager says, as the charger interface hears it: the cFos
source of the limit arbiter and a "cFos" entry in the enable/disable table,
both lapsing when the manager falls silent.

    s = Steer(manager)
    s.limit(100, now)      # 10.0 A (cFos counts in 0.1 A), for CfosTimeoutS
    s.enable(False, now)   # disabled (EvseManager.disable("cFos")): PWM off
    s.heard(now)           # the manager is still there: its word lasts longer
    s.expire(now)          # called every second or so: a silent manager's word ends

The manager's word lasts ``CfosTimeoutS`` from the last time it was heard
(a write, or with Modbus any request: evcc writes a value only when it
changes, and polls the status in between). Then the limit reverts to
``CfosFallbackA`` (0 pauses), as the arbiter itself does at the deadline
(set_external_limit's timeout), and the disable entry is dropped: a manager
that went away must neither hold the charger at its last word for ever nor
lift every limit at once. Both modes of issue 16 (Modbus, cfos.modbus_server,
and the HTTP input, cfos.ajax) steer through here.
"""

from charger.limits import CFOS, NONE
from evse.compat import const, ticks_add, ticks_diff

_SOURCE = "cFos"  # its name in the enable/disable table
_PRIORITY = const(100)  # below OCPP's 10: an Inoperative from the central system wins


class Steer:
    def __init__(self, manager):
        self.m = manager
        self.deciamps = NONE  # the limit last set, 0.1 A (-1: none in force)
        self.enabled = NONE  # 1 enabled, 0 disabled, -1: no entry in force
        self._until = 0  # the charger's ticks at which the manager's word lapses

    def _timing(self):
        c = self.m.settings()
        return c["CfosTimeoutS"] * 1000, c["CfosFallbackA"]

    def live(self):
        """The manager's word is in force (a limit or an enable entry)."""
        return self.deciamps >= 0 or self.enabled >= 0

    def limit(self, deciamps, now):
        """Limit the offer to ``deciamps`` (0.1 A, rounded down to whole
        amperes: never more than asked). True, or why not."""
        timeout, fallback = self._timing()
        done = self.m.set_external_limit(CFOS, amps=deciamps // 10, timeout_ms=timeout, fallback_a=fallback)
        if done is True:
            self.deciamps = deciamps
            self._renew(now, timeout)
        return done

    def enable(self, on, now):
        done = self.m.enable(_SOURCE, _PRIORITY) if on else self.m.disable(_SOURCE, _PRIORITY)
        if done is True:
            self.enabled = 1 if on else 0
            self._renew(now, self._timing()[0])
        return done

    def heard(self, now):
        """The manager spoke (anything at all): its word in force lasts on."""
        if not self.live() or self.expire(now):
            return
        timeout, fallback = self._timing()
        if self.deciamps >= 0:
            self.m.set_external_limit(CFOS, amps=self.deciamps // 10, timeout_ms=timeout, fallback_a=fallback)
        self._renew(now, timeout)

    def expire(self, now):
        """End the word of a manager silent for CfosTimeoutS; True if it ended now."""
        if not self.live() or ticks_diff(now, self._until) < 0:
            return False
        if self.deciamps >= 0:
            # The arbiter reverted the slot at the same deadline already;
            # set here too, should this run first.
            self.m.set_external_limit(CFOS, amps=self._timing()[1])
            self.deciamps = NONE
        if self.enabled >= 0:
            self.m.unassign(_SOURCE)
            self.enabled = NONE
        return True

    def _renew(self, now, timeout):
        self._until = ticks_add(now, timeout)
