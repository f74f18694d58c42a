"""What the control tick computes stays a small int on a 32-bit MicroPython
(-2^30 .. 2^30 - 1, as on an ESP32), so a tick allocates nothing at any
uptime: tick arithmetic at every edge of the 2^30 wrap, and a session's
energy past 2^30 W*s (298 kWh). Under MicroPython the tick-side calls run
with the heap locked (any allocation is a MemoryError); the expected values
are worked out with the heap unlocked, as long ints where they must be."""

from evse.compat import ticks_add, ticks_diff, TICKS_MASK, TICKS_PERIOD
from evse.session import Session

try:
    from micropython import heap_lock, heap_unlock
except ImportError:  # CPython: nothing to lock, the values are still checked

    def heap_lock():
        pass

    def heap_unlock():
        pass


HALF = TICKS_PERIOD // 2
EDGES = (0, 1, 2, HALF - 1, HALF, HALF + 1, TICKS_MASK - 1, TICKS_MASK, 123456789)
DELTAS = (0, 1, -1, 10, -10, HALF - 1, -HALF, 1000000, -1000000)


def test_ticks_diff_is_micropythons_with_a_2_30_period_and_allocates_nothing():
    got = [0] * (len(EDGES) * len(EDGES))
    heap_lock()
    try:
        n = 0
        for a in EDGES:
            for b in EDGES:
                got[n] = ticks_diff(a, b)
                n += 1
    finally:
        heap_unlock()
    want = [(a - b + HALF) % TICKS_PERIOD - HALF for a in EDGES for b in EDGES]
    assert got == want


def test_ticks_add_wraps_in_2_30_and_allocates_nothing():
    got = [0] * (len(EDGES) * len(DELTAS))
    heap_lock()
    try:
        n = 0
        for t in EDGES:
            for d in DELTAS:
                got[n] = ticks_add(t, d)
                n += 1
    finally:
        heap_unlock()
    assert got == [(t + d) % TICKS_PERIOD for t in EDGES for d in DELTAS]


def test_ticks_add_then_diff_gives_the_delta_back_across_the_wrap():
    for t in EDGES:
        for d in DELTAS:
            assert ticks_diff(ticks_add(t, d), t) == d, (t, d)


def test_a_session_past_298_kwh_accrues_and_settles_without_allocating():
    s = Session()
    s.active = True
    s.energy_wh = 400000  # 400 kWh: 1.44e9 W*s, past 2^30
    s.duration_s = 20 * 86400  # twenty days plugged in
    s.meter_report(5000000)  # the meter's counter at 5 MWh
    heap_lock()
    try:
        for _ in range(3600):  # an hour at 22 kW, fine ticks then coarse ones
            s.accrue(10, 22080, True)
        for _ in range(3564):
            s.accrue(1000, 22080, True)
        s.meter_report(5000000 + 22080)
    finally:
        heap_unlock()
    assert s.energy_wh == 400000 + 22080
    assert s.energy_ws == (400000 + 22080) * 3600  # a long int here, outside the tick: the WebAPI's answer
    assert s.duration_s == 20 * 86400 + 3600
    assert not s.estimated
