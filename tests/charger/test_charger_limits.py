"""The limit arbiter: the least live limit wins and is named, timeouts
revert to their fallback (across the ticks' wrap too), bad input changes
nothing, and resolve allocates nothing."""

from charger import limits as L
from evse.compat import TICKS_MASK
from locked import heap_locked


def test_the_least_limit_wins_and_is_named():
    a = L.LimitArbiter()
    assert a.resolve(0) == -1 and a.source == -1  # no limit at all
    a.set(L.SETTINGS, 16)
    a.set(L.RATING, 32)
    a.set(L.OCPP, 10)
    assert a.resolve(0) == 10 and L.SOURCE_NAMES[a.source] == "OCPP"
    a.set(L.CFOS, 8)
    assert a.resolve(0) == 8 and L.SOURCE_NAMES[a.source] == "cFos"
    a.clear(L.CFOS)
    a.clear(L.OCPP)
    assert a.resolve(0) == 16 and a.source == L.SETTINGS


def test_a_tie_names_the_first_source():
    a = L.LimitArbiter()
    a.set(L.SETTINGS, 16)
    a.set(L.EVEREST, 16)
    assert a.resolve(0) == 16 and a.source == L.SETTINGS


def test_zero_is_a_limit_and_minus_one_none():
    a = L.LimitArbiter()
    a.set(L.SETTINGS, 16)
    a.set(L.LOAD, 0)
    assert a.resolve(0) == 0 and a.source == L.LOAD
    a.set(L.LOAD, -1)
    assert a.resolve(0) == 16


def test_first_leaves_out_the_sources_before_it():
    a = L.LimitArbiter()
    a.set(L.SETTINGS, 6)
    a.set(L.JOSEV, 20)
    assert a.resolve(0, L.LOAD) == 20 and a.source == L.JOSEV
    assert a.resolve(0) == 6 and a.source == L.SETTINGS


def test_a_timed_limit_reverts_to_its_fallback_then_stays():
    a = L.LimitArbiter()
    a.set(L.SETTINGS, 16)
    a.set(L.OCPP, 8, 60000, 12, 1000)
    assert a.resolve(60999) == 8 and a.source == L.OCPP
    assert a.resolve(61000) == 12 and a.source == L.OCPP
    assert a.get(L.OCPP) == 12
    assert a.resolve(61000 + 10 ** 8) == 12  # the fallback has no timeout of its own


def test_a_timed_limit_without_fallback_lifts():
    a = L.LimitArbiter()
    a.set(L.SETTINGS, 16)
    a.set(L.CFOS, 6, 5000, -1, 0)
    assert a.resolve(4999) == 6
    assert a.resolve(5000) == 16 and a.source == L.SETTINGS


def test_a_timeout_across_the_ticks_wrap():
    a = L.LimitArbiter()
    start = TICKS_MASK - 999  # 1 s before the ticks wrap
    a.set(L.EVEREST, 7, 3000, 20, start)
    assert a.resolve(TICKS_MASK) == 7
    assert a.resolve(1999) == 7  # 2999 ms after start, past the wrap
    assert a.resolve(2000) == 20


def test_bad_input_is_refused_and_changes_nothing():
    a = L.LimitArbiter()
    a.set(L.OCPP, 10)
    for args in ((99, 10), (-1, 10), (L.OCPP, -2), (L.OCPP, 10.5), (L.OCPP, True), (L.OCPP, 10, -1),
                 (L.OCPP, 10, L.MAX_TIMEOUT_MS + 1), (L.OCPP, 10, 0, -5)):
        try:
            a.set(*args)
        except ValueError:
            pass
        else:
            raise AssertionError("accepted %r" % (args,))
    assert a.resolve(0) == 10 and a.source == L.OCPP


def test_resolve_and_set_allocate_nothing():
    a = L.LimitArbiter()
    a.set(L.OCPP, 8, 100, 9, 0)

    def tick():
        for now in range(0, 300, 10):
            a.set(L.SETTINGS, 16)
            a.set(L.CABLE, -1)
            a.resolve(now, L.LOAD)
            a.resolve(now)

    heap_locked(tick)
    assert a.resolve(300) == 9
