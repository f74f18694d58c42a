"""Plug lock (case B): solenoid and servo sequencing, feedback, jams, and the kernel's use of it."""

from evse import states as S
from evse import lock as L
from evse import kernel as K
from evse.lock import PlugLock, SOLENOID, SERVO, DRIVE_OFF, DRIVE_LOCK, DRIVE_UNLOCK
from bench import Bench, load_board, pwm_on


def _run(lk, feedback, start, end):
    """Step a lock every 10 ms; ``feedback(t)`` is the switch. The changes, as
    (t, drive, locked, failed)."""
    events = []
    prev = None
    t = start
    while t <= end:
        lk.step(t, feedback(t))
        now = (lk.drive, lk.locked, lk.failed)
        if now != prev:
            events.append((t, lk.drive, lk.locked, lk.failed))
            prev = now
        t += 10
    return events


def _never(t):
    return False


def test_solenoid_with_feedback_pulses_then_confirms():
    lk = PlugLock(SOLENOID, True)
    lk.want(True, 0)
    assert lk.drive == DRIVE_LOCK and lk.busy and not lk.locked
    # The actuator gets there after 100 ms; the pulse still lasts its 300 ms.
    ev = _run(lk, lambda t: t >= 100, 10, 1000)
    assert ev == [(10, DRIVE_LOCK, False, False), (300, DRIVE_OFF, True, False)]
    assert not lk.busy
    assert L.SOLENOID_PULSE_MS == 300


def test_solenoid_unlock_pulse():
    lk = PlugLock(SOLENOID, True)
    lk.want(True, 0)
    _run(lk, lambda t: True, 10, 400)
    assert lk.locked
    lk.want(False, 1000)
    assert lk.drive == DRIVE_UNLOCK
    ev = _run(lk, lambda t: t < 1100, 1010, 2000)
    assert ev == [(1010, DRIVE_UNLOCK, False, False), (1300, DRIVE_OFF, False, False)]


def test_solenoid_jam_retries_then_fails_then_retries_later():
    lk = PlugLock(SOLENOID, True)
    lk.want(True, 0)
    ev = _run(lk, _never, 10, 7500)
    pulses = [e[0] for e in ev if e[1] == DRIVE_LOCK]
    fails = [e[0] for e in ev if e[3]]
    # Three pulses 100 ms (CHECK_MS) apart, then failed; a fresh round after RETRY_MS.
    assert pulses[:3] == [10, 400, 800], pulses
    assert fails[0] == 1200, fails
    assert pulses[3] == 1200 + L.RETRY_MS, pulses
    assert L.ATTEMPTS == 3
    assert not lk.locked


def test_solenoid_without_feedback_assumes_the_position_after_the_pulse():
    lk = PlugLock(SOLENOID, False)
    lk.want(True, 0)
    ev = _run(lk, _never, 10, 1000)  # the (absent) switch is ignored
    assert ev == [(10, DRIVE_LOCK, False, False), (300, DRIVE_OFF, True, False)]
    lk.want(False, 2000)
    ev = _run(lk, lambda t: True, 2010, 3000)
    # Moving means no longer confirmed locked: the contactor must not rely on it.
    assert ev == [(2010, DRIVE_UNLOCK, False, False), (2300, DRIVE_OFF, False, False)]
    assert not lk.failed


def test_servo_with_feedback_stops_at_the_end_switch():
    lk = PlugLock(SERVO, True)
    lk.want(True, 0)
    ev = _run(lk, lambda t: t >= 120, 10, 2000)
    assert ev == [(10, DRIVE_LOCK, False, False), (120, DRIVE_OFF, True, False)]


def test_servo_with_feedback_jam_times_out_retries_and_fails():
    lk = PlugLock(SERVO, True)
    lk.want(True, 0)
    ev = _run(lk, _never, 10, 6000)
    offs = [e[0] for e in ev if e[1] == DRIVE_OFF and not e[3]]
    pulses = [e[0] for e in ev if e[1] == DRIVE_LOCK]
    assert pulses == [10, 1600, 3200], pulses
    assert offs == [1500, 3100, 4700], offs  # SERVO_TIMEOUT_MS after each start
    assert lk.failed and not lk.locked
    assert [e[0] for e in ev if e[3]] == [4800]


def test_servo_without_feedback_runs_its_full_time():
    lk = PlugLock(SERVO, False)
    lk.want(True, 0)
    ev = _run(lk, lambda t: True, 10, 3000)
    assert ev == [(10, DRIVE_LOCK, False, False), (L.SERVO_TIMEOUT_MS, DRIVE_OFF, True, False)]


def test_change_of_mind_mid_pulse_starts_afresh():
    lk = PlugLock(SOLENOID, True)
    lk.want(True, 0)
    _run(lk, _never, 10, 100)
    lk.want(False, 150)
    assert lk.drive == DRIVE_UNLOCK
    ev = _run(lk, _never, 160, 1000)
    assert ev == [(160, DRIVE_UNLOCK, False, False), (450, DRIVE_OFF, False, False)]
    # Asking again for the same position does not restart anything.
    lk.want(False, 1000)
    assert lk.drive == DRIVE_OFF and not lk.busy


def test_forced_lock_is_driven_back():
    """A lock pushed out of position is given up once its switch has disagreed
    for CHECK_MS, and driven back."""
    lk = PlugLock(SOLENOID, True)
    lk.want(True, 0)
    _run(lk, lambda t: True, 10, 400)
    assert lk.locked
    ev = _run(lk, lambda t: t < 1000 or t >= 1200, 410, 1400)
    # Last agreeing sample at 990: given up and driven at 1090, pulse ends at 1390.
    assert ev == [(410, DRIVE_OFF, True, False), (1090, DRIVE_LOCK, False, False), (1390, DRIVE_OFF, True, False)], ev


def test_one_bad_switch_sample_keeps_the_lock_confirmed():
    """Issue 20 item 11: one bad lock-feedback sample must not withdraw the
    lock (which would open the contactor under load)."""
    lk = PlugLock(SOLENOID, True)
    lk.want(True, 0)
    _run(lk, lambda t: True, 10, 400)
    assert lk.locked
    ev = _run(lk, lambda t: t != 1000, 410, 3000)
    assert ev == [(410, DRIVE_OFF, True, False)], ev
    # Up to CHECK_MS - 10 ms of disagreement: still confirmed throughout.
    ev = _run(lk, lambda t: not 3000 <= t < 3000 + L.CHECK_MS - 10, 3010, 4000)
    assert ev == [(3010, DRIVE_OFF, True, False)], ev


def test_nothing_moves_before_the_first_wish():
    """Issue 20 item 1: a bistable lock found locked at boot stays locked, and
    is reported locked, until the kernel asks for a position."""
    lk = PlugLock(SOLENOID, True)
    ev = _run(lk, lambda t: True, 0, 5000)
    assert ev == [(0, DRIVE_OFF, True, False)], ev
    assert not lk.busy
    # Asked to stay locked: no pulse at all, it is already there.
    lk.want(True, 5000)
    assert lk.drive == DRIVE_OFF and lk.locked and not lk.busy


# -- through the kernel and the simulated board --------------------------------


def _never_live_unlocked(b):
    """The contactor is never closed unless the plug is locked (board's switch and kernel)."""
    return not b.relay or (b.board.locked and b.k.lock.locked)


def _charge_case_b(b):
    b.hook = lambda b: _check(b)
    b.vehicle("B", cable_a=32)
    t_offer = b.until(lambda b: pwm_on(b.pwm), 5000)
    assert t_offer is not None
    assert b.board.locked and b.k.lock.locked, "offer before the lock was confirmed"
    b.vehicle("C")
    t_close = b.until(lambda b: b.relay, 3000)
    assert t_close is not None
    return t_offer, t_close


def _check(b):
    assert _never_live_unlocked(b), (b.elapsed, b.state)


def _end_session_and_unlock(b):
    b.vehicle("B")
    assert b.until(lambda b: not b.relay, 200) is not None
    b.vehicle("A")
    t = b.until(lambda b: not b.board.locked and not b.k.lock.locked and b.k.lock_drive == DRIVE_OFF, 3000)
    assert t is not None, "not unlocked after the session"
    assert b.state == S.IDLE_A
    return t


# Each connection first runs the RCM self-test (issue 20 item 7), then the lock moves.
RCM_MS = K.RCM_TEST_MS + K.RCM_RELEASE_MS


def test_case_b_solenoid_locks_before_offering_and_unlocks_after():
    b = Bench(case_b=True)
    t_offer, t_close = _charge_case_b(b)
    # RCM test, solenoid pulse (300 ms) plus a few ticks: then the offer.
    assert RCM_MS + 300 <= t_offer <= RCM_MS + 400, t_offer
    assert b.state == S.CHARGE_C
    _end_session_and_unlock(b)


def test_case_b_servo_with_feedback():
    conf = load_board()
    conf["lock"]["type"] = "servo"
    b = Bench(board=conf, case_b=True)
    assert b.params.lock_method == SERVO and b.k.lock.method == SERVO  # the board decides
    t_offer, t_close = _charge_case_b(b)
    # The servo stops at its switch (the simulated lock moves in 100 ms).
    assert t_offer < RCM_MS + 300, t_offer
    _end_session_and_unlock(b)


def test_case_b_servo_without_feedback():
    conf = load_board()
    conf["lock"]["type"] = "servo"
    del conf["lock"]["feedback_pin"]
    b = Bench(board=conf, case_b=True)
    assert not b.params.lock_feedback
    t_offer, t_close = _charge_case_b(b)
    assert t_offer >= L.SERVO_TIMEOUT_MS, t_offer  # runs the full time, then assumes locked
    _end_session_and_unlock(b)


def test_case_b_solenoid_without_feedback():
    conf = load_board()
    del conf["lock"]["feedback_pin"]
    b = Bench(board=conf, case_b=True)
    t_offer, t_close = _charge_case_b(b)
    assert RCM_MS + 300 <= t_offer <= RCM_MS + 400, t_offer
    _end_session_and_unlock(b)


def test_no_lock_in_case_a():
    b = Bench()
    b.vehicle("B")
    b.vehicle("C")
    assert b.until(lambda b: b.relay, 3000) is not None
    assert b.k.lock_drive == DRIVE_OFF and not b.board.locked


def test_lock_jam_gives_lock_error_and_never_charges():
    b = Bench(case_b=True)
    b.fault("LockJam")
    b.vehicle("C", cable_a=32)
    t = b.until(lambda b: b.state == S.LOCK_ERR_F, 5000)
    assert t is not None
    assert RCM_MS + 1100 <= t <= RCM_MS + 1400, t  # RCM test, three 300 ms pulses, 100 ms checks
    assert not b.relay and not b.k.relay
    assert b.pwm == 0  # state F
    # Never charges while jammed (the vehicle keeps asking).
    assert b.stays(lambda b: b.state == S.LOCK_ERR_F and not b.relay and not pwm_on(b.pwm), 20000)
    # The error clears once the vehicle is gone and the lock is open.
    b.fault("LockJam", False)
    b.vehicle("A")
    assert b.until(lambda b: b.state == S.IDLE_A, 3000) is not None


def test_unlock_jam_gives_lock_error_until_the_lock_opens():
    b = Bench(case_b=True)
    _charge_case_b(b)
    b.vehicle("B")
    assert b.until(lambda b: not b.relay, 200) is not None
    b.fault("LockJam")
    b.vehicle("A")
    t = b.until(lambda b: b.state == S.LOCK_ERR_F, 5000)
    assert t is not None, b.state
    assert b.board.locked
    assert b.stays(lambda b: b.state == S.LOCK_ERR_F, 3000)
    b.fault("LockJam", False)
    t = b.until(lambda b: b.state == S.IDLE_A, 10000)
    assert t is not None, b.state
    assert not b.board.locked and not b.k.lock.locked


def test_plug_stays_locked_while_the_contactor_is_closed():
    """Stop during C: the vehicle keeps the contactor closed for up to 6 s; the
    lock opens only after the contactor has."""
    b = Bench(case_b=True)
    _charge_case_b(b)
    assert b.k.toggle_start()  # stop
    opened = b.until(lambda b: not b.relay, 7000)
    assert opened is not None
    assert b.until(lambda b: not b.board.locked, 1000) is not None


def test_restart_while_unlocking_waits_for_the_lock():
    """Stop in C, the contactor is forced open after 6 s and the plug unlocks;
    a ChargeStartToggle while the unlock pulse is still running must not close
    the contactor until the lock is back in place and confirmed."""
    for feedback in (True, False):
        conf = load_board()
        if not feedback:
            del conf["lock"]["feedback_pin"]
        b = Bench(board=conf, case_b=True)
        b.charging()
        assert b.k.toggle_start()  # stop; the vehicle stays in C
        assert b.until(lambda b: not b.board.locked, 8000) is not None  # physically open
        assert b.k.lock_drive == DRIVE_UNLOCK  # the pulse is still running
        assert b.k.toggle_start()  # start again
        unsafe = []

        def hook(b):
            if b.relay and not b.board.locked:
                unsafe.append(b.elapsed)

        b.hook = hook
        assert b.until(lambda b: b.relay and b.board.locked, 3000) is not None
        assert not unsafe, "feedback=%s: contactor closed with the plug unlocked at %r ms" % (feedback, unsafe[:3])


def test_changing_charger_mode_during_a_session_keeps_the_lock_and_the_cable_limit():
    """Issue 20 item 3: case B -> A while charging on a 13 A cable. The mode in
    force stays until the vehicle leaves: the plug stays locked under load and
    the offer stays within the cable."""
    b = Bench(case_b=True, charge_current_a=32)
    b.vehicle("B", cable_a=13)
    b.vehicle("C")
    assert b.until(lambda b: b.relay, 5000) is not None
    b.run(6000)
    assert b.offered == 13
    b.settings.case_b = False
    b.changed()
    assert b.stays(lambda b: b.relay and b.board.locked and b.k.lock.locked and b.offered == 13, 10000)
    assert b.k.case_b
    # Taken when the vehicle has left: then the lock opens (contactor open first).
    b.vehicle("B")
    b.vehicle("A")
    assert b.until(lambda b: not b.board.locked, 3000) is not None
    assert not b.k.case_b and not b.relay
