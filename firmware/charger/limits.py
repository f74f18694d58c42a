"""The limit arbiter: the current offered is the least of every live source.

    limits = LimitArbiter()
    limits.set(OCPP, 10, 60000, 16, now)   # 10 A for a minute, then 16 A
    limits.set(CFOS, 13)                  # 13 A until changed
    amps = limits.resolve(now)            # 10; limits.source == OCPP

Each source has one fixed slot: a current in whole amperes (-1: no limit),
and optionally a deadline after which the slot reverts to its fallback (a
source that falls silent must not hold the charger at its last word for
ever, nor lift every limit at once). The winner is named, so "why is it
charging at 8 A?" always has an answer: ``SOURCE_NAMES[limits.source]``.

Amperes only: EvseManager converts watts with the phases and the nominal
voltage before they come here. ``resolve`` runs every control tick and
allocates nothing; deadlines are wrapping ticks (evse.compat), so a
timeout is at most MAX_TIMEOUT_MS, and resolve must run at least that
often (the control tick runs it a hundred times a second).
"""

from evse.compat import const, ticks_add, ticks_diff, HORIZON_MS

# Sources, in the order a tie is named (the first of equal limits wins).
SETTINGS = const(0)  # ChargeCurrent, or ChargeCurrentBoost while boosted
CABLE = const(1)  # the PP's cable rating (socket, ChargerMode 1)
RATING = const(2)  # the charger's own rating (board file)
LOAD = const(3)  # load management (ControlStrategy 1)
POWER_AVAILABLE = const(4)  # load management steered by EVSEPowerAvailable (Meter2Type 7)
OCPP = const(5)  # charging profiles
CFOS = const(6)
JOSEV = const(7)
EVEREST = const(8)
PAUSED = const(9)  # EvseManager.pause_charging: 0 A
DISABLED = const(10)  # EvseManager.disable: 0 A
COUNT = const(11)

SOURCE_NAMES = (
    "Settings",
    "Cable",
    "Rating",
    "LoadManagement",
    "EVSEPowerAvailable",
    "OCPP",
    "cFos",
    "Josev",
    "EVerest",
    "Paused",
    "Disabled",
)

NONE = const(-1)  # a slot without a limit
MAX_TIMEOUT_MS = HORIZON_MS  # 3.1 days: well inside what ticks_diff can tell


class LimitArbiter:
    def __init__(self):
        self._amps = [NONE] * COUNT
        self._fallback = [NONE] * COUNT
        self._until = [0] * COUNT  # ticks the slot reverts at, if timed
        self._timed = [False] * COUNT
        self._next = 0  # the earliest deadline of a timed slot, if any is timed
        self._any_timed = False
        self.changed = False  # set() since the last full resolve
        self.source = NONE  # the winner of the last resolve (NONE: no limit at all)

    def set(self, source, amps, timeout_ms=0, fallback_a=NONE, now=0):
        """Source ``source`` limits to ``amps`` (NONE: no limit); with
        ``timeout_ms`` > 0 it reverts to ``fallback_a`` that long after
        ``now`` (ticks). Raises ValueError for a bad argument and changes
        nothing then. Allocates nothing for good arguments."""
        if not (0 <= source < COUNT):
            raise ValueError("no such source")
        if not (_whole(amps) and amps >= NONE and _whole(fallback_a) and fallback_a >= NONE):
            raise ValueError("amps must be a whole number >= -1")
        if not (_whole(timeout_ms) and 0 <= timeout_ms <= MAX_TIMEOUT_MS):
            raise ValueError("timeout out of range")
        self._amps[source] = amps
        self._fallback[source] = fallback_a
        self._until[source] = until = ticks_add(now, timeout_ms)
        self._timed[source] = timeout_ms > 0
        if timeout_ms > 0 and (not self._any_timed or ticks_diff(until, self._next) < 0):
            self._next = until
            self._any_timed = True
        self.changed = True

    def clear(self, source):
        """No limit from ``source`` (and no pending timeout)."""
        self.set(source, NONE)

    def get(self, source):
        """The slot's limit now (NONE: none), as the last resolve left it."""
        return self._amps[source]

    def due(self, now):
        """Whether a timed slot has run out: resolve would change something."""
        return self._any_timed and ticks_diff(now, self._next) >= 0

    def resolve(self, now, first=0):
        """The least limit of sources ``first`` and on (NONE if none has
        one), expiring timed slots first; sets ``source`` to the winner."""
        amps = self._amps
        best = NONE
        winner = NONE
        for s in range(first, COUNT):
            if self._timed[s] and ticks_diff(now, self._until[s]) >= 0:
                self._timed[s] = False
                amps[s] = self._fallback[s]
            a = amps[s]
            if a >= 0 and (best < 0 or a < best):
                best = a
                winner = s
        self.source = winner
        # The next deadline, over every slot (also those before ``first``).
        self._any_timed = False
        for s in range(COUNT):
            if self._timed[s] and (not self._any_timed or ticks_diff(self._until[s], self._next) < 0):
                self._next = self._until[s]
                self._any_timed = True
        if not first:
            self.changed = False
        return best


def _whole(n):
    return isinstance(n, int) and not isinstance(n, bool)
