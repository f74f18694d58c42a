"""Session events: one stream that every adapter reads at its own pace.

    events = Events()
    sub = events.subscribe()          # an adapter, at start-up
    events.emit(CHARGING_STARTED, 0, now)   # the control tick (allocates nothing)
    await sub.wait()                  # the adapter's task: something new
    while (e := sub.poll()) is not None:
        code, arg, time_ms = e

The codes and their names are EVerest's ``evse_manager`` session events
(``NAMES[code]``). ``time_ms`` is the control clock's ticks (wrapping at
2^30, compare with ``ticks_diff``), ``arg`` a small int whose meaning
depends on the code:

    TRANSACTION_FINISHED   the stop reason, REASON_* (OCPP 1.6 Reason)
    RESERVATION_START/END  the reservation id
    ERROR_RAISED/CLEARED   the EvseState of the fault (evse.states)
    AUTHORIZED             1 if an id tag authorized it, 0 for free charging

The ring holds the last SIZE events in preallocated lists: ``emit`` stores
three ints and moves a counter, so the control tick can call it with the
heap locked. Each subscriber has its own cursor; one that falls more than
SIZE events behind loses the oldest and counts them in ``missed``.

The tick never calls an adapter: it only wakes the tasks waiting in
``Subscriber.wait`` (an ``asyncio.Event``, made by the first wait, so a
charger whose adapters never wait pays nothing for it).

What an adapter shows beyond the session (the offer's limit, the CP level,
the contactor) changes without an event: ``touch`` wakes the tasks waiting
in ``Subscriber.wait_change`` instead, recording nothing (EvseManager.step
touches, allocating nothing), so that an adapter that mirrors the charger
(Josev's status and limits) hears of it within the control period without
polling.
"""

from evse.compat import const

SESSION_STARTED = const(0)
AUTHORIZED = const(1)
TRANSACTION_STARTED = const(2)
CHARGING_STARTED = const(3)
CHARGING_PAUSED_EV = const(4)
CHARGING_PAUSED_EVSE = const(5)
STOPPING_CHARGING = const(6)
TRANSACTION_FINISHED = const(7)
SESSION_FINISHED = const(8)
RESERVATION_START = const(9)
RESERVATION_END = const(10)
ENABLED = const(11)
DISABLED = const(12)
ERROR_RAISED = const(13)
ERROR_CLEARED = const(14)
DEAUTHORIZED = const(15)  # an authorization withdrawn before its transaction started

NAMES = (
    "SessionStarted",
    "Authorized",
    "TransactionStarted",
    "ChargingStarted",
    "ChargingPausedEV",
    "ChargingPausedEVSE",
    "StoppingCharging",
    "TransactionFinished",
    "SessionFinished",
    "ReservationStart",
    "ReservationEnd",
    "Enabled",
    "Disabled",
    "ErrorRaised",  # EVerest reports these through its error framework: its verbs
    "ErrorCleared",
    "Deauthorized",
)

# Why a transaction finished (TRANSACTION_FINISHED's arg): OCPP 1.6's Reason.
REASON_EMERGENCY_STOP = const(0)
REASON_EV_DISCONNECTED = const(1)
REASON_HARD_RESET = const(2)
REASON_LOCAL = const(3)
REASON_OTHER = const(4)
REASON_POWER_LOSS = const(5)
REASON_REBOOT = const(6)
REASON_REMOTE = const(7)
REASON_SOFT_RESET = const(8)
REASON_UNLOCK_COMMAND = const(9)
REASON_DEAUTHORIZED = const(10)

REASONS = (
    "EmergencyStop",
    "EVDisconnected",
    "HardReset",
    "Local",
    "Other",
    "PowerLoss",
    "Reboot",
    "Remote",
    "SoftReset",
    "UnlockCommand",
    "DeAuthorized",
)

SIZE = const(16)  # events kept; a power of two (the index is a mask)
_LAST = const(15)  # SIZE - 1
_MASK = const(0x3FFFFFFF)  # the write counter wraps here: a small int on a 32-bit port


class Events:
    def __init__(self):
        self._code = [0] * SIZE
        self._arg = [0] * SIZE
        self._time = [0] * SIZE
        self._written = 0  # events emitted since start, modulo 2^30
        self._event = None  # the asyncio.Event of waiting subscribers, made by the first wait
        self.touched = 0  # touch()es since start, modulo 2^30

    def emit(self, code, arg=0, now=0):
        """Record an event and wake the waiting subscribers. Allocates nothing."""
        i = self._written & _LAST
        self._code[i] = code
        self._arg[i] = arg
        self._time[i] = now
        self._written = (self._written + 1) & _MASK
        if self._event is not None:
            self._event.set()

    def touch(self):
        """Wake the waiting subscribers: something they show changed. Allocates nothing."""
        self.touched = (self.touched + 1) & _MASK
        if self._event is not None:
            self._event.set()

    def subscribe(self):
        """A reader of the events emitted from now on."""
        return Subscriber(self)

    async def _wait(self):
        if self._event is None:
            import asyncio

            self._event = asyncio.Event()
        self._event.clear()
        await self._event.wait()


class Subscriber:
    def __init__(self, events):
        self._events = events
        self._cursor = events._written
        self.missed = 0  # events the ring overwrote before this subscriber read them
        self._touched = events.touched

    def pending(self):
        """How many events wait to be read (at most SIZE are kept)."""
        n = (self._events._written - self._cursor) & _MASK
        return n if n <= SIZE else SIZE

    def poll(self):
        """The oldest unread event as (code, arg, time_ms), or None."""
        ev = self._events
        n = (ev._written - self._cursor) & _MASK
        if not n:
            return None
        if n > SIZE:  # overrun: the oldest kept event is where reading goes on
            self.missed += n - SIZE
            self._cursor = (ev._written - SIZE) & _MASK
        i = self._cursor & _LAST
        self._cursor = (self._cursor + 1) & _MASK
        return ev._code[i], ev._arg[i], ev._time[i]

    async def wait(self):
        """Return when there is something to poll (at once if there is)."""
        while not self.pending():
            await self._events._wait()

    async def wait_change(self):
        """Return when there is something to poll or the charger was touched
        since the last wait_change (at once if either)."""
        ev = self._events
        while not self.pending() and self._touched == ev.touched:
            await ev._wait()
        self._touched = ev.touched
