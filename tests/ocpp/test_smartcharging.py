"""Charging profiles and their composite (firmware/ocpp/smartcharging.py),
under CPython and the MicroPython unix ports (test_ocpp_micropython.py runs
this module there too): stack levels and expiry, the purposes, absolute,
recurring and relative schedules, W units, validity, the bounds, clearing
with each filter, the time before the clock is known, and a restart."""

from flashdir import fresh
from ocpp.smartcharging import SmartCharging

T0 = 1767225600  # 2026-01-01T00:00:00Z (a Thursday)
V = 230


def _sc(max_installed=8):
    return SmartCharging(fresh() + "/ocpp.prof", max_installed)


def _profile(pid, stack, purpose="TxDefaultProfile", kind="Absolute", periods=((0, 16),), unit="A", start=T0,
             **more):
    schedule = {"chargingRateUnit": unit,
                "chargingSchedulePeriod": [dict(startPeriod=s, limit=lim) for s, lim in periods]}
    if start is not None:
        schedule["startSchedule"] = _iso(start)
    for key in ("duration", "minChargingRate"):
        if key in more:
            schedule[key] = more.pop(key)
    p = {"chargingProfileId": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
         "chargingProfileKind": kind, "chargingSchedule": schedule}
    for key in ("validFrom", "validTo"):
        if key in more:
            more[key] = _iso(more[key])
    p.update(more)
    return p


def _iso(t):
    from ocpp import timefmt

    return timefmt.format(t)


def _amps(sc, now, elapsed=None, tx=None, phases=3):
    return sc.limit_at(now, elapsed, tx, V, phases)[0]


def test_the_highest_stack_level_wins_then_expires_and_the_lower_applies_again():
    sc = _sc()
    assert sc.install(1, _profile(1, 0, periods=((0, 16),))) == "Accepted"
    assert sc.install(1, _profile(2, 3, periods=((0, 10),), duration=600)) == "Accepted"  # over after 10 min
    assert sc.install(1, _profile(3, 5, periods=((0, 8),), validTo=T0 + 300)) == "Accepted"  # over after 5 min
    assert sc.limit_at(T0 + 10, None, None, V, 3) == (8, 0, 290)  # stack 5, until its validTo
    assert _amps(sc, T0 + 300) == 10  # stack 3, until its duration ends
    assert sc.limit_at(T0 + 300, None, None, V, 3)[2] == 300
    assert _amps(sc, T0 + 600) == 16  # stack 0, for ever
    assert sc.limit_at(T0 + 600, None, None, V, 3)[2] is None
    assert sc.schedule(T0, None, None, V, 3, 3600) == [[0, 8, 0], [300, 10, 0], [600, 16, 0]]
    assert sc.schedule(T0, None, None, V, 3, 400) == [[0, 8, 0], [300, 10, 0]]


def test_charge_point_max_caps_and_a_tx_profile_overrides_the_default():
    sc = _sc()
    assert sc.install(0, _profile(1, 0, "ChargePointMaxProfile", periods=((0, 20), (3600, 12)))) == "Accepted"
    assert sc.install(1, _profile(2, 0, periods=((0, 16),))) == "Accepted"
    assert _amps(sc, T0) == 16 and _amps(sc, T0 + 3600) == 12  # the lesser of the two
    # A TxProfile needs its transaction, and only for its transaction.
    assert sc.install(1, _profile(3, 0, "TxProfile", periods=((0, 25),))) == "Rejected"
    assert sc.install(1, _profile(3, 0, "TxProfile", periods=((0, 25),), transactionId=7), tx_id=8) == "Rejected"
    assert sc.install(1, _profile(3, 0, "TxProfile", periods=((0, 6),), transactionId=7), tx_id=7) == "Accepted"
    assert _amps(sc, T0, elapsed=0, tx=7) == 6  # overrides TxDefault's 16 (higher as well as lower)
    assert _amps(sc, T0, elapsed=0, tx=9) == 16  # another transaction: not its profile
    sc.end_transaction()
    assert [p[0] for p in sc.profiles] == [1, 2]
    assert sc.install(1, _profile(4, 0, "TxProfile", periods=((0, 25),)), tx_id=9) == "Accepted"
    assert _amps(sc, T0, elapsed=0, tx=9) == 20  # capped by ChargePointMax
    # Purposes on the wrong connector.
    assert sc.install(1, _profile(5, 0, "ChargePointMaxProfile")) == "Rejected"
    assert sc.install(0, _profile(5, 0, "TxProfile"), tx_id=9) == "Rejected"


def test_a_default_on_connector_1_wins_over_one_on_connector_0():
    sc = _sc()
    assert sc.install(0, _profile(1, 7, periods=((0, 10),))) == "Accepted"
    assert sc.install(1, _profile(2, 1, periods=((0, 13),))) == "Accepted"
    assert _amps(sc, T0) == 13


def test_watts_become_amperes_over_the_phases_charged_on():
    sc = _sc()
    p = _profile(1, 0, periods=((0, 11040),), unit="W")
    assert sc.install(1, p) == "Accepted"
    assert _amps(sc, T0) == 11040 / (230 * 3)  # 16 A: numberPhases absent is 3
    assert _amps(sc, T0, phases=1) == 11040 / 230  # 48 A on one phase: the power is the limit
    p["chargingSchedule"]["chargingSchedulePeriod"][0]["numberPhases"] = 1
    assert sc.install(1, p) == "Accepted"  # the same id: replaced
    assert len(sc.profiles) == 1 and sc.limit_at(T0, None, None, V, 3)[:2] == (11040 / 230, 1)


def test_a_daily_schedule_across_midnight():
    sc = _sc()
    evening = T0 + 22 * 3600
    p = _profile(1, 0, kind="Recurring", recurrencyKind="Daily", start=evening, periods=((0, 6), (4 * 3600, 16)),
                 duration=8 * 3600)
    assert sc.install(1, p) == "Accepted"
    day = 86400
    assert _amps(sc, evening - 60) is None  # not started yet
    assert sc.limit_at(evening - 60, None, None, V, 3)[2] == 60
    assert _amps(sc, evening + 30 * 60) == 6  # 22:30
    assert _amps(sc, T0 + day + 3600) == 6  # 01:00, the next day: still the first period
    assert sc.limit_at(T0 + day + 3600, None, None, V, 3)[2] == 3600  # until 02:00
    assert _amps(sc, T0 + day + 3 * 3600) == 16  # 03:00
    assert _amps(sc, T0 + day + 6 * 3600) is None  # 06:00: past its 8 h, free until 22:00
    assert sc.limit_at(T0 + day + 6 * 3600, None, None, V, 3)[2] == 16 * 3600
    assert _amps(sc, T0 + 5 * day + 22 * 3600 + 1) == 6  # and every evening after
    assert sc.schedule(T0 + day, None, None, V, 3, day) == \
        [[0, 6, 0], [2 * 3600, 16, 0], [6 * 3600, None, 0], [22 * 3600, 6, 0]]


def test_a_weekly_schedule():
    sc = _sc()
    p = _profile(1, 0, kind="Recurring", recurrencyKind="Weekly", periods=((0, 10),), duration=86400)
    assert sc.install(1, p) == "Accepted"
    assert [_amps(sc, T0 + d * 86400 + 5) for d in range(8)] == [10, None, None, None, None, None, None, 10]


def test_a_relative_schedule_runs_from_the_transaction_start():
    sc = _sc()
    assert sc.install(1, _profile(1, 0, kind="Relative", start=None, periods=((0, 8), (900, 32)))) == "Accepted"
    assert sc.limit_at(None, None, None, V, 3) == (8, 0, None)  # no transaction: its first period, waiting
    assert sc.limit_at(None, 100, 1, V, 3) == (8, 0, 800)  # no clock needed
    assert _amps(sc, None, elapsed=900, tx=1) == 32


def test_valid_from_and_to():
    sc = _sc()
    assert sc.install(1, _profile(1, 0, periods=((0, 10),), validFrom=T0 + 100, validTo=T0 + 200)) == "Accepted"
    assert sc.limit_at(T0, None, None, V, 3) == (None, 0, 100)
    assert sc.limit_at(T0 + 150, None, None, V, 3) == (10, 0, 50)
    assert sc.limit_at(T0 + 200, None, None, V, 3) == (None, 0, None)


def test_before_the_clock_is_known_a_placed_schedule_holds_its_lowest_limit():
    sc = _sc()
    assert sc.install(0, _profile(1, 0, "ChargePointMaxProfile", periods=((0, 20), (600, 7), (1200, 14)))) == \
        "Accepted"
    assert sc.limit_at(None, None, None, V, 3) == (7, 0, None)
    # Absolute without a startSchedule: from when it was installed; before the clock, its lowest too.
    assert sc.install(1, _profile(2, 0, start=None, periods=((0, 12), (60, 9))), now_s=T0) == "Accepted"
    assert sc.profiles[-1][9] == T0 and _amps(sc, T0 + 30) == 12
    assert sc.install(1, _profile(2, 0, start=None, periods=((0, 12), (60, 5)))) == "Accepted"
    assert _amps(sc, T0 + 30) == 5 and _amps(sc, None) == 5


def test_the_bounds_and_bad_profiles_change_nothing():
    sc = _sc(max_installed=3)
    for i in range(3):
        assert sc.install(1, _profile(10 + i, i)) == "Accepted"
    assert sc.install(1, _profile(20, 5)) == "Rejected"  # MaxChargingProfilesInstalled
    assert sc.install(1, _profile(10, 7, periods=((0, 9),))) == "Accepted"  # replaces one: still 3
    assert sc.install(1, _profile(30, 1, periods=((0, 11),))) == "Accepted"  # replaces stack 1's
    assert sorted(p[0] for p in sc.profiles) == [10, 12, 30]
    before = list(sc.profiles)
    bad = [
        _profile(40, 9),  # past ChargeProfileMaxStackLevel
        _profile(40, 0, periods=((10, 9),)),  # not from 0
        _profile(40, 0, periods=((0, 9), (0, 8))),  # not rising
        _profile(40, 0, periods=tuple((i * 60, 9) for i in range(25))),  # past ChargingScheduleMaxPeriods
        _profile(40, 0, unit="kW"),
        _profile(40, 0, kind="Recurring"),  # no recurrencyKind
        _profile(40, 0, kind="Recurring", recurrencyKind="Daily", start=None),
        _profile(40, 0, periods=((0, -1),)),
        _profile(40, 0, validTo=T0),  # its validTo made unreadable below
        _profile(40, 0, purpose="Other"),
    ]
    bad[8]["validTo"] = "yesterday"
    for p in bad:
        assert sc.install(1, p, max_stack=8, max_periods=24) == "Rejected", p
    assert sc.install(2, _profile(40, 0)) == "Rejected"  # no connector 2
    assert sc.profiles == before


def test_clearing_by_each_filter():
    sc = _sc()
    sc.install(0, _profile(1, 0, "ChargePointMaxProfile"))
    sc.install(0, _profile(2, 1))
    sc.install(1, _profile(3, 1))
    sc.install(1, _profile(4, 2))
    assert sc.clear(pid=99) == 0
    assert sc.clear(pid=4, purpose="ChargePointMaxProfile") == 1  # the id decides alone
    assert sc.clear(connector=1, purpose="ChargePointMaxProfile") == 0
    assert sc.clear(stack=1, connector=0) == 1 and [p[0] for p in sc.profiles] == [1, 3]
    assert sc.clear(purpose="TxDefaultProfile") == 1
    assert sc.clear() == 1 and sc.profiles == []


def test_profiles_are_on_flash_and_tx_profiles_are_not_kept():
    sc = _sc()
    sc.install(0, _profile(1, 0, "ChargePointMaxProfile", periods=((0, 20),)))
    sc.install(1, _profile(2, 0, kind="Recurring", recurrencyKind="Daily", periods=((0, 10), (60, 6))))
    sc.install(1, _profile(3, 0, "TxProfile"), tx_id=5)
    again = SmartCharging(sc.path)
    assert again.profiles == sc.profiles[:2]
    assert _amps(again, T0 + 86400 + 61) == 6
    sc.clear()
    assert SmartCharging(sc.path).profiles == []
