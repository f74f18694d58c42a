"""Test bench: the real kernel driven by the real simulated board, in virtual time.

Runs unchanged under CPython and the MicroPython unix port (no os.path, no
dataclasses, no f-strings). The control loop is the firmware's own:

    board.read(now, kernel.inputs); kernel.step(now); board.write(now, kernel)

every TICK_MS of virtual time.

    b = Bench(case_b=True)          # settings by keyword, booted and idle in A
    b.vehicle("B")                  # plug in; then b.vehicle("C") to ask for charge
    ms = b.until(lambda b: b.relay, 3000)   # elapsed virtual ms, None on timeout
"""

import json

from evse.kernel import Kernel, Settings
from evse import states as S
from evse.pilot import PWM_OFF, PWM_F
from evse.compat import ticks_add, ticks_diff
from hal import board as boardfile
from hal.sim import SimBoard, FAULTS

TICK_MS = 10
COARSE_MS = 1000  # app/control.py: the step while the kernel reports nothing pending


ROOT = (__file__.rpartition("/")[0] or ".") + "/../.."  # no os.path under MicroPython
BOARD_FILE = ROOT + "/boards/sim.json"


def load_board():
    """A fresh dict of boards/sim.json (callers may change it)."""
    with open(BOARD_FILE) as f:
        return json.load(f)


def is_fault(state):
    return state in S.FAULT_STATES


def pwm_on(permille):
    return permille != PWM_OFF and permille != PWM_F


class Bench:
    def __init__(self, board=None, boot=True, start_ms=0, rcm_dead=False, **settings):
        if board is None:
            board = load_board()
        self.conf = board
        self.params = boardfile.params(board)
        self.settings = Settings()
        for name in settings:
            if not hasattr(self.settings, name):
                raise AttributeError("no setting " + name)
            setattr(self.settings, name, settings[name])
        self.kernel = Kernel(self.params, self.settings)
        self.board = SimBoard(board)
        self.board.safe()
        self.now = start_ms
        self.elapsed = 0  # virtual ms since the bench was built
        self.rcm_dead = rcm_dead  # the RCM ignores its test input
        self.trace = None  # a list to record (elapsed, state, relay, pwm, offered) per tick
        self.hook = None  # called as hook(bench) after every tick
        self.coarse = False  # step COARSE_MS while kernel.quiet, as the simulator does
        self.dirty = False  # the world changed since the last tick
        if boot:
            self.boot()

    # -- the control loop ----------------------------------------------------

    def tick(self, ms=TICK_MS):
        """One control tick, ``ms`` after the previous one."""
        self.now = ticks_add(self.now, ms)
        self.elapsed += ms
        self.dirty = False
        b = self.board
        k = self.kernel
        b.read(self.now, k.inputs)
        k.step(self.now)
        b.write(self.now, k)
        if self.rcm_dead:
            b.rcm_test = False
        if self.trace is not None:
            self.trace.append((self.elapsed, k.state, k.relay, k.pwm_permille, k.offered_a))
        if self.hook is not None:
            self.hook(self)

    def _step(self, limit):
        """Advance by one tick, or (``coarse``) by COARSE_MS while the kernel is
        quiet and nothing changed since the last tick, never beyond ``limit`` ms."""
        ms = TICK_MS
        if self.coarse and self.kernel.quiet and not self.dirty:
            ms = COARSE_MS
        if ms > limit:
            ms = limit
        self.tick(ms)
        return ms

    def run(self, ms):
        left = ms
        while left >= TICK_MS:
            left -= self._step(left)

    def until(self, pred, max_ms):
        """Tick until ``pred(bench)``; the virtual ms it took, None if it never held."""
        waited = 0
        while not pred(self):
            if waited >= max_ms:
                return None
            waited += self._step(max_ms - waited)
        return waited

    def stays(self, pred, ms):
        """True if ``pred(bench)`` holds after every tick for ``ms``."""
        left = ms
        while left >= TICK_MS:
            left -= self._step(left)
            if not pred(self):
                return False
        return True

    def boot(self):
        t = self.until(lambda b: b.kernel.state != S.WAITING, 2000)
        assert t is not None, "kernel never left EVSE_WAITING"
        return t

    def restart(self):
        """A watchdog reset or brown-out: a fresh kernel on the same board. The
        world stays as it was: the vehicle, the faults, a welded contactor,
        and a bistable lock where it was. The HAL makes its outputs safe first;
        the kernel is not booted (call boot() or tick on)."""
        self.kernel = Kernel(self.params, self.settings)
        self.board.safe()
        self.dirty = True

    def idle(self, ms, step_ms=60000):
        """Let ``ms`` pass in steps of ``step_ms`` while the kernel has nothing
        pending (TICK_MS while it has), as a long uptime does: the tick
        counter runs on and wraps as ticks_ms does."""
        left = ms
        while left > 0:
            if self.kernel.quiet:
                step = step_ms if left > step_ms else left
            else:
                step = TICK_MS
            self.tick(step)
            left -= step

    # -- the world -------------------------------------------------------------

    def vehicle(self, state=None, cable_a=False, draw_a=False, phases=None):
        self.board.vehicle.set(state, cable_a, draw_a, phases)
        self.board.refresh()
        self.dirty = True

    def fault(self, name, on=True):
        if name not in FAULTS:
            raise KeyError(name)
        self.board.faults[name] = on
        self.board.refresh()
        self.dirty = True

    def temp(self, c10):
        self.board.temp_c10 = c10
        self.dirty = True

    def changed(self):
        """Note a change made directly (settings, limit_a, a toggle)."""
        self.dirty = True

    # -- shortcuts -------------------------------------------------------------

    @property
    def k(self):
        return self.kernel

    @property
    def state(self):
        return self.kernel.state

    @property
    def relay(self):
        """The contactor as the board has it (physically closed)."""
        return self.board.relay_closed

    @property
    def pwm(self):
        return self.kernel.pwm_permille

    @property
    def offered(self):
        return self.kernel.offered_a

    def charging(self, max_ms=5000):
        """Plug in (B), ask for charge (C) and wait until the contactor is closed."""
        if self.board.vehicle.state == "A":
            self.vehicle("B")
            t = self.until(lambda b: pwm_on(b.pwm), max_ms)
            assert t is not None, "no offer in B"
        self.vehicle("C")
        t = self.until(lambda b: b.relay and b.kernel.relay, max_ms)
        assert t is not None, "contactor never closed in C"
        return t


def outputs(k):
    """Everything the kernel decides, as one comparable value."""
    return (
        k.state,
        k.relay,
        k.pwm_permille,
        k.offered_a,
        k.lock_drive,
        k.rcm_test,
        k.fault,
        k.latched,
        k.cp,
        k.connected,
        k.started,
        k.boosted,
    )
