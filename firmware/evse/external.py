"""External control: what a controller outside the firmware asks of the kernel.

In EVerest's board-support mode (``mqtt.boardsupport``) an EVerest
EvseManager on a Linux controller decides the CP duty and when the
contactor may close; this firmware becomes its board. The kernel does not
hand over its safety to it. It reads these requests as one more input:

    duty     the PWM the controller asks for, in per mille: PWM_OFF (1000) is
             state X1 (steady +12 V), PWM_F (0) is state F (-12 V), any other
             duty asks for asked_a(duty) amperes;
    allow    allow_power_on: the contactor may close (False: open it now);
    lock     the plug lock (a socket, ChargerMode 1) is wanted closed.

and still decides itself. The offer is the asked current clamped to the
settings' current, the site limit (``limit_a``), the charger's rating, the
cable (PP) and the temperature derating, rounded down to a duty the vehicle
reads as no more; an asked duty that offers less than 6 A (5 % for ISO
15118 included) offers nothing. The contactor closes only in C (or D with
ventilation), with the diode checked under a settled PWM, the lock closed,
no fault, an offer of 6 A or more and ``allow``; the kernel's own reasons to
open it (faults at once, the vehicle leaving C, the PWM off for 6 s) stand.
Everything that limits the normal offer (a fault's state F, the RCM test
at plug-in, an offer raised at most once per 5 s) limits this one too; a
lower duty asked is obeyed at once (the controller keeps its own timing).

The controller must prove it is alive: ``heartbeat(now)`` at least every
HEARTBEAT_TIMEOUT_MS. When it falls silent (and until its first heartbeat)
every request is forgotten at once: duty back to X1, ``allow`` and ``lock``
withdrawn. The offer drops on that tick and the contactor opens on the
kernel's own timing (when the vehicle stops asking, at most 6 s after the
PWM went off) rather than under load. A controller that comes back must ask
again for everything.

All fields are ints and bools, so the kernel's tick reads them without
allocating; the commands are called between ticks (charger.external). The
kernel only calls ``step`` and ``offer_a`` on the object it is given: this
module is loaded only when a controller takes over (no heap otherwise).
"""

from evse.compat import const, ticks_add, ticks_diff, held
from evse.pilot import PWM_OFF

# EVerest's heartbeat interval is its cfg_heartbeat_interval_ms (1 s in its
# examples): three of them may be lost before the kernel falls back to safe.
HEARTBEAT_TIMEOUT_MS = const(3000)


def asked_a(permille):
    """The current a controller's duty asks for, in whole amperes (0: none).

    EVerest computes its duty as A / 0.6 % (A / 2.5 + 64 % above 51 A) in
    floating point, and the adapter rounds it to the nearest per mille, so
    14 A arrives as 233 (13.98 A): a duty within 0.05 A below a whole ampere
    counts as that ampere. The kernel then drives duty_permille(amps), which
    is never above the duty the controller asked for (216 for 13 A: 21.6 %
    against its 21.67 %).
    """
    if permille < 100 or permille > 960:
        return 0  # 5 % (ISO 15118), X1, F or out of the table: no current
    if permille <= 850:
        return (permille * 6 + 5) // 100
    return (permille - 640 + 1) // 4


class External:
    def __init__(self):
        self.duty = PWM_OFF
        self.allow = False
        self.lock = False
        self.lost = True  # no heartbeat yet, or none for HEARTBEAT_TIMEOUT_MS
        self.seen = 0  # ticks of the last heartbeat (the kernel holds it fresh)

    def heartbeat(self, now):
        self.seen = now
        self.lost = False

    def step(self, now):
        """The kernel's tick: silent for HEARTBEAT_TIMEOUT_MS, forget everything."""
        if not self.lost:
            self.seen = held(now, self.seen)
            if ticks_diff(now, self.seen) >= HEARTBEAT_TIMEOUT_MS:
                self.forget(now)

    def offer_a(self):
        """The current the duty asks for (asked_a)."""
        return asked_a(self.duty)

    def forget(self, now):
        """The controller fell silent: drop every request (the kernel's step)."""
        self.lost = True
        self.duty = PWM_OFF
        self.allow = False
        self.lock = False
        self.seen = ticks_add(now, -HEARTBEAT_TIMEOUT_MS)
