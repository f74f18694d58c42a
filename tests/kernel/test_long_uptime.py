"""Timers across days of uptime (issue 20 item 5).

The tick counter wraps like MicroPython's ticks_ms (every 2^30 ms, 12.4
days), and ticks_diff can tell an age only up to 2^29 ms (6.2 days). Every
timer must stay expired however long nothing refreshes it: each scenario
runs across 7 days (past 2^29 ms) and 13 days (past the wrap), the kernel
stepped once a minute while it has nothing pending.
"""

from evse import states as S
from evse import kernel as K
from evse.compat import ticks_diff
from evse.contactor import SETTLE_MS
from bench import Bench, pwm_on

DAY_MS = 24 * 3600 * 1000
DAYS = (7, 13)
CONFIRMED_MS = 100  # a feedback disagreement is a fault once it lasted this long at most


def test_the_days_cross_the_range_of_ticks_diff_and_the_wrap():
    b = Bench()
    start = b.now
    b.idle(7 * DAY_MS)
    assert ticks_diff(b.now, start) < 0  # 7 days read as "in the future"
    b.idle(6 * DAY_MS)
    assert b.now < start + 13 * DAY_MS  # wrapped
    assert 0 < ticks_diff(b.now, start) < DAY_MS  # 13 days read as less than one


def test_an_idle_charger_offers_to_the_next_vehicle():
    for days in DAYS:
        b = Bench()
        b.charging()  # a first session, then nobody for days
        b.vehicle("A")
        b.idle(days * DAY_MS)
        b.vehicle("B")
        t = b.until(lambda b: pwm_on(b.pwm), 2000)
        assert t is not None, "no offer after %d idle days" % days
        b.vehicle("C")
        assert b.until(lambda b: b.relay, 1000) is not None, days


def test_a_vehicle_left_in_b2_can_start():
    for days in DAYS:
        b = Bench()
        b.vehicle("B")
        assert b.until(lambda b: pwm_on(b.pwm), 2000) is not None
        b.run(1000)
        b.idle(days * DAY_MS)
        assert b.state == S.CONNECTED_B and pwm_on(b.pwm)
        b.vehicle("C")
        assert b.until(lambda b: b.relay, 1000) is not None, "no close after %d days in B2" % days


def test_contactor_feedback_is_still_checked_when_idle():
    for days in DAYS:
        b = Bench()
        b.idle(days * DAY_MS)
        b.fault("RelayWeld")
        t = b.until(lambda b: b.state == S.RELAY_ERR_F, 2000)
        assert t is not None and t <= SETTLE_MS + CONFIRMED_MS, (days, t)


def test_contactor_feedback_is_still_checked_after_days_of_charging():
    for days in DAYS:
        b = Bench()
        b.charging()
        b.run(K.DUTY_CHANGE_MS)
        b.idle(days * DAY_MS)
        assert b.state == S.CHARGE_C and b.relay
        b.fault("RelayNoClose")  # drops out
        t = b.until(lambda b: b.state == S.RELAY_ERR_F, 2000)
        assert t is not None and t <= CONFIRMED_MS, (days, t)


def test_a_fault_lasting_days_still_clears():
    for days in DAYS:
        b = Bench()
        b.charging()
        b.fault("OverTemp")
        assert b.until(lambda b: b.state == S.GENERAL_ERR, 3000) is not None
        b.run(1000)
        b.idle(days * DAY_MS)
        b.fault("OverTemp", False)
        t = b.until(lambda b: b.state == S.CHARGE_C and b.relay, 10000)
        assert t is not None, "the fault never cleared after %d days" % days


def test_the_lock_still_opens_after_days_locked():
    for days in DAYS:
        b = Bench(case_b=True)
        b.charging()
        b.run(K.DUTY_CHANGE_MS)
        b.idle(days * DAY_MS)
        assert b.board.locked and b.relay
        b.vehicle("B")
        b.vehicle("A")
        t = b.until(lambda b: not b.board.locked and not b.k.lock.busy, 3000)
        assert t is not None, "not unlocked after %d days" % days


def test_the_duty_rule_still_lets_a_new_setting_through():
    for days in DAYS:
        b = Bench(charge_current_a=16)
        b.charging()
        b.run(K.DUTY_CHANGE_MS)
        b.idle(days * DAY_MS)
        b.settings.charge_current_a = 10
        b.changed()
        assert b.until(lambda b: b.offered == 10, 1000) is not None, days
