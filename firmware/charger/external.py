"""The charger interface's part for an external controller (EVerest's board
support, mqtt.boardsupport): its commands, and what its adapter reports.

    x = charger.manager.take_external_control()   # for good (EvseManager)
    x.heartbeat()                  # at least every 3 s (evse.external)
    x.pwm(266)                     # duty per mille: 1000 X1, 0 state F
    x.allow_power_on(True)
    x.cp, x.socket, x.rating_a     # what EVerest is told

The commands fill the kernel's ``external`` input (evse.external), which
says how the kernel still guards every request. Like every command of the
interface they answer True or why not, and a refused one changes nothing.
Loaded only when a controller takes over: a charger without one pays no
heap for it.
"""

from charger import events as E
from evse import states as S
from evse.external import External
from evse.pilot import PWM_F


class ExternalControl:
    def __init__(self, manager):
        self.manager = manager
        self.kernel = manager.kernel
        if self.kernel.external is None:
            self.kernel.external = External()
        self.x = self.kernel.external

    # -- commands -------------------------------------------------------------

    def pwm(self, permille):
        """The duty the controller asks for, per mille: 1000 is state X1
        (no PWM, +12 V), 0 is state F."""
        if isinstance(permille, bool) or not isinstance(permille, int) or not 0 <= permille <= 1000:
            return "duty must be a whole number of per mille from 0 to 1000"
        self.x.duty = permille
        return True

    def allow_power_on(self, allow):
        """The contactor may close (False: open it now)."""
        if not isinstance(allow, bool):
            return "allow_power_on must be true or false"
        self.x.allow = allow
        return True

    def lock(self, locked):
        """The plug lock (a socket) wanted closed, or open."""
        if not isinstance(locked, bool):
            return "lock must be true or false"
        self.x.lock = locked
        return True

    def heartbeat(self):
        """The controller is alive (evse.external.HEARTBEAT_TIMEOUT_MS)."""
        self.x.heartbeat(self.manager.clock.ticks())
        return True

    # -- what the controller is told --------------------------------------------

    @property
    def cp(self):
        """The CP level, a letter A-F: as read, or F while the charger drives
        it ("?": not yet read, e.g. just after F)."""
        k = self.kernel
        return "F" if k.pwm_permille == PWM_F else S.CP_LETTERS[k.cp]

    @property
    def socket(self):
        return self.manager.socket

    @property
    def rating_a(self):
        return self.manager.rating_a

    @property
    def stop_reason(self):
        """The reason of the charger's stop under way (Local when none), as
        charger.events.REASONS names it (OCPP 1.6's, EVerest's too)."""
        return E.REASONS[self.manager._reason]
