"""The session-event stream: codes and names, a ring read by independent
subscribers, overruns counted, an allocation-free emit, and wait()."""

import asyncio

from charger import events as E
from locked import heap_locked


def test_codes_are_everests_names_and_reasons_ocpps():
    assert len(E.NAMES) == 16
    assert E.NAMES[E.SESSION_STARTED] == "SessionStarted"
    assert E.NAMES[E.CHARGING_PAUSED_EVSE] == "ChargingPausedEVSE"
    assert E.NAMES[E.TRANSACTION_FINISHED] == "TransactionFinished"
    assert E.NAMES[E.RESERVATION_END] == "ReservationEnd"
    assert E.REASONS[E.REASON_EV_DISCONNECTED] == "EVDisconnected"
    assert E.REASONS[E.REASON_DEAUTHORIZED] == "DeAuthorized"
    assert E.REASONS[E.REASON_UNLOCK_COMMAND] == "UnlockCommand"
    assert len(E.REASONS) == 11


def test_each_subscriber_reads_every_event_in_order_at_its_own_pace():
    ev = E.Events()
    early = ev.subscribe()
    ev.emit(E.SESSION_STARTED, 0, 100)
    late = ev.subscribe()  # sees only what comes after it subscribed
    ev.emit(E.TRANSACTION_FINISHED, E.REASON_REMOTE, 200)
    assert early.poll() == (E.SESSION_STARTED, 0, 100)
    assert late.poll() == (E.TRANSACTION_FINISHED, E.REASON_REMOTE, 200)
    assert late.poll() is None
    assert early.pending() == 1
    assert early.poll() == (E.TRANSACTION_FINISHED, E.REASON_REMOTE, 200)
    assert early.poll() is None and early.missed == 0 and late.missed == 0


def test_a_subscriber_left_behind_loses_the_oldest_and_counts_them():
    ev = E.Events()
    sub = ev.subscribe()
    for n in range(E.SIZE + 5):
        ev.emit(E.ERROR_RAISED, n, n)
    assert sub.pending() == E.SIZE
    assert sub.poll() == (E.ERROR_RAISED, 5, 5)  # the oldest kept
    assert sub.missed == 5
    got = []
    e = sub.poll()
    while e is not None:
        got.append(e[1])
        e = sub.poll()
    assert got == list(range(6, E.SIZE + 5))
    assert sub.missed == 5


def test_the_write_counter_wraps_as_a_small_int():
    ev = E.Events()
    ev._written = 0x3FFFFFFE
    sub = ev.subscribe()
    for n in range(4):
        ev.emit(E.AUTHORIZED, n, 0)
    assert ev._written == 2
    assert [sub.poll()[1] for _ in range(4)] == [0, 1, 2, 3]
    assert sub.poll() is None and sub.missed == 0


def test_emit_allocates_nothing_even_with_a_task_waiting():
    ev = E.Events()
    sub = ev.subscribe()
    woken = []

    async def adapter():
        await sub.wait()
        woken.append(sub.poll())

    async def main():
        task = asyncio.create_task(adapter())
        await asyncio.sleep(0)  # the adapter now waits on the event
        await asyncio.sleep(0)
        assert not woken
        heap_locked(lambda: ev.emit(E.CHARGING_STARTED, 7, 1234))  # as the control tick does
        for _ in range(3):
            await asyncio.sleep(0)
        assert woken == [(E.CHARGING_STARTED, 7, 1234)]
        await task

    asyncio.run(main())


def test_wait_returns_at_once_when_something_is_there_and_wakes_every_subscriber():
    ev = E.Events()
    a = ev.subscribe()
    b = ev.subscribe()
    order = []

    async def reader(name, sub):
        for _ in range(2):
            await sub.wait()
            order.append((name, sub.poll()[0]))

    async def main():
        ev.emit(E.SESSION_STARTED)
        ta = asyncio.create_task(reader("a", a))
        tb = asyncio.create_task(reader("b", b))
        for _ in range(3):
            await asyncio.sleep(0)
        ev.emit(E.SESSION_FINISHED)
        for _ in range(3):
            await asyncio.sleep(0)
        await ta
        await tb

    asyncio.run(main())
    assert sorted(order) == [("a", E.SESSION_STARTED), ("a", E.SESSION_FINISHED),
                             ("b", E.SESSION_STARTED), ("b", E.SESSION_FINISHED)]


def test_touch_wakes_wait_change_records_nothing_and_allocates_nothing():
    ev = E.Events()
    watcher = ev.subscribe()  # an adapter that mirrors the charger (Josev)
    reader = ev.subscribe()  # one that reads only events (OCPP)
    woke = []

    async def mirror():
        for _ in range(2):
            await watcher.wait_change()
            woke.append(watcher.poll())

    async def events_only():
        await reader.wait()
        woke.append(("reader", reader.poll()[0]))

    async def main():
        tm = asyncio.create_task(mirror())
        tr = asyncio.create_task(events_only())
        for _ in range(2):
            await asyncio.sleep(0)
        heap_locked(ev.touch)  # as the control tick does
        for _ in range(3):
            await asyncio.sleep(0)
        assert woke == [None]  # woken with nothing to read; the reader waits on
        assert reader.pending() == 0
        ev.emit(E.SESSION_STARTED)
        for _ in range(3):
            await asyncio.sleep(0)
        await tm
        await tr

    asyncio.run(main())
    assert sorted(woke, key=str) == sorted([None, (E.SESSION_STARTED, 0, 0), ("reader", E.SESSION_STARTED)], key=str)


def test_wait_change_returns_at_once_for_a_touch_it_has_not_seen():
    ev = E.Events()
    sub = ev.subscribe()
    ev.touch()

    async def main():
        await sub.wait_change()  # the touch before: at once
        try:
            await asyncio.wait_for(sub.wait_change(), 0.05)  # seen: waits
            return False
        except asyncio.TimeoutError:
            return True

    assert asyncio.run(main())
