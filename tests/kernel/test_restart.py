"""A reboot with a vehicle plugged in (issue 20 item 1).

A bistable lock keeps its position through a power cycle, and a watchdog
reset or brown-out can come in the middle of a session. The lock moves only
when the kernel asks, and the kernel asks only once it knows the state: never
during the boot self-test, never with the contactor closed (by command or by
feedback), never with a weld latched.
"""

from evse import states as S
from evse.lock import DRIVE_UNLOCK
from hal.sim import SimBoard
from bench import Bench, load_board, pwm_on

STATE_FILE = "/tmp/evse-test-restart-state.json"


def _watch_lock(b):
    """Record every tick on which the lock is driven open or the plug is open."""
    seen = []

    def hook(b):
        if b.k.lock_drive == DRIVE_UNLOCK or not b.board.locked:
            seen.append((b.elapsed, b.k.lock_drive, b.board.locked, b.state))

    b.hook = hook
    return seen


def test_restart_while_charging_with_a_welded_contactor_keeps_the_plug_locked():
    b = Bench(case_b=True)
    b.charging()
    assert b.board.locked
    b.fault("RelayWeld")
    b.restart()
    seen = _watch_lock(b)
    assert b.until(lambda b: b.state == S.RELAY_ERR_F, 2000) is not None
    b.vehicle("A")  # the driver tries to leave
    b.run(30000)
    assert not seen, "the plug was released from a live socket: %r" % seen[:3]
    assert b.state == S.RELAY_ERR_F and b.board.relay_closed


def test_restart_with_a_vehicle_plugged_in_leaves_the_lock_alone():
    """No unlock and relock after a reboot: the lock is where it should be."""
    b = Bench(case_b=True)
    b.charging()
    b.restart()
    seen = _watch_lock(b)
    assert b.until(lambda b: b.relay and b.state == S.CHARGE_C, 5000) is not None
    b.run(2000)
    assert not seen, "the lock moved after the restart: %r" % seen[:3]
    assert b.k.lock.locked and b.board.locked


def test_restart_leaves_the_lock_alone_until_the_self_test_is_done():
    b = Bench(case_b=True)
    b.charging()
    b.vehicle("A")  # the vehicle leaves while the charger is down
    b.restart()
    moved = []
    b.hook = lambda b: moved.append(b.elapsed) if b.k.lock_drive and b.state == S.WAITING else None
    assert b.until(lambda b: not b.board.locked, 3000) is not None  # then it unlocks
    assert not moved, "the lock moved during the boot self-test at %r" % moved[:3]


def test_the_simulated_lock_keeps_its_position_through_a_restart():
    conf = load_board()
    b = Bench(board=conf, case_b=True)
    b.charging()
    b.board._state_path = STATE_FILE
    b.board.save()
    board = SimBoard(conf)
    assert not board.locked
    board.restore(STATE_FILE)
    assert board.locked and board.vehicle.state == "C"


def test_no_offer_before_the_lock_is_confirmed_after_a_restart():
    b = Bench(case_b=True)
    b.charging()
    b.restart()
    offered_unlocked = []
    b.hook = lambda b: offered_unlocked.append(b.elapsed) if pwm_on(b.pwm) and not b.k.lock.locked else None
    b.run(3000)
    assert not offered_unlocked
