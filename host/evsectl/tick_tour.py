"""A tour of every charger state, tick by tick, for tests and benchmarks.

Runs inside a device directory under MicroPython or CPython:

    micropython tick_tour.py [--heap-lock] [--ticks-per-leg N] [--start-ms MS]

Each leg sets the virtual vehicle or a fault (which may allocate, between
legs) and then runs N control ticks of the real Controller, Kernel and
SimBoard. With ``--heap-lock`` (MicroPython) every leg runs with the heap
locked, so any allocation in a tick raises MemoryError. ``--start-ms``
starts the virtual clock that long after power-up (days of uptime, or just
before the ticks wrap); the clock runs on across the legs' reboots, so the
wrap falls where it was put. Prints one JSON line: ticks run, states seen, bytes allocated per tick, ticks per second.
"""

import gc
import json
import sys

sys.path[:0] = ["slot_a", "slot_a/lib"]  # the app slot of a freshly assembled device directory

from app.clock import VirtualClock
from app.config import ConfigStore
from app.control import Controller, PERIOD_MS
from charger.limits import OCPP
from charger.manager import EvseManager
from evse.compat import TICKS_MASK
from evse.kernel import Kernel, Settings
from hal import board as boardfile
from hal.sim import SimBoard

try:
    import micropython
except ImportError:  # CPython
    micropython = None

try:
    from time import ticks_ms, ticks_diff
except ImportError:  # CPython
    from time import perf_counter

    def ticks_ms():
        return int(perf_counter() * 1000)

    def ticks_diff(a, b):
        return a - b


# (vehicle state, faults on, settings changes) per leg; a fresh charger
# ("boot") starts the legs after a latched fault.
LEGS = (
    ("boot", {}),
    ("A", {}),
    ("B", {}),
    ("C", {}),
    ("D", {}),
    ("vent", {}),
    ("D", {}),
    ("C", {"temp": 700}),  # derating
    ("C", {"temp": 250}),
    ("stop", {}),  # ChargeStartToggle: PWM off, vehicle stays in C
    ("B", {}),
    ("A", {}),
    ("C", {"DiodeShort": True}),
    ("A", {"DiodeShort": False}),
    ("C", {"CpShort": True}),
    ("A", {"CpShort": False}),
    ("caseB", {}),
    ("C", {"PpOpen": True}),
    ("A", {"PpOpen": False}),
    ("C", {"LockJam": True}),
    ("A", {"LockJam": False}),
    ("C", {"temp": 900}),
    ("A", {"temp": 250}),
    ("C", {"draw": 40}),
    ("A", {"draw": None}),
    ("C", {"Epo": True}),
    ("boot", {"Epo": False}),
    ("C", {"Rcm": True}),
    ("boot", {"Rcm": False}),
    ("C", {"RelayWeld": True}),
    ("boot", {"RelayWeld": False}),
    ("C", {"RelayNoClose": True}),
)


def _mem_alloc():
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0


class _Parts:
    """What charger.manager.EvseManager takes from app.runtime.Charger."""

    def __init__(self, kernel, config, clock):
        self.kernel = kernel
        self.config = config
        self.clock = clock


class Tour:
    def __init__(self, board, start_ms):
        self.board = board
        self.clock = VirtualClock(start_ms)
        self.config = ConfigStore("config.json")
        self.boot()

    def boot(self, case_b=False):
        self.sim = SimBoard(self.board)
        settings = Settings()
        settings.case_b = case_b
        self.kernel = Kernel(boardfile.params(self.board), settings)
        # The charger interface steps with the kernel (its limits, its
        # session events); an OCPP limit that times out to its fallback
        # exercises the arbiter's timeouts in the tick.
        self.manager = EvseManager(_Parts(self.kernel, self.config, self.clock))
        self.manager.set_external_limit(OCPP, 20, 2000, 24)
        self.controller = Controller(self.kernel, self.sim, self.clock, self.manager)
        # The ticks it would have counted since power-up (the counter wraps at 2^30, 124 days in).
        self.controller.ticks = self.clock.uptime_ms() // PERIOD_MS & TICKS_MASK

    def leg(self, name, changes):
        k = self.kernel
        sim = self.sim
        if name == "boot":
            self.boot(k.settings.case_b)
            sim = self.sim
        elif name == "vent":
            k.settings.ventilation = True
        elif name == "stop":
            k.toggle_start()
        elif name == "caseB":
            self.boot(True)
            sim = self.sim
        else:
            sim.vehicle.set(state=name)
        for key, value in changes.items():
            if key == "temp":
                sim.temp_c10 = value
            elif key == "draw":
                sim.vehicle.set(draw_a=value)
            else:
                sim.faults[key] = value
        sim.refresh()

    def run(self, ticks, lock, seen):
        clock = self.clock
        tick = self.controller.tick
        k = self.kernel
        before = _mem_alloc()
        if lock:
            micropython.heap_lock()
        try:
            for _ in range(ticks):
                clock.advance(PERIOD_MS)
                tick()
                seen[k.state] = 1
        finally:
            if lock:
                micropython.heap_unlock()
        return _mem_alloc() - before


def main():
    args = sys.argv[1:]
    lock = "--heap-lock" in args
    per_leg = 400
    if "--ticks-per-leg" in args:
        per_leg = int(args[args.index("--ticks-per-leg") + 1])
    start_ms = 0
    if "--start-ms" in args:
        start_ms = int(args[args.index("--start-ms") + 1])
    tour = Tour(boardfile.load("board.json"), start_ms)
    seen = bytearray(12)  # EvseState values met; item assignment does not allocate
    ticks = 0
    allocated = 0
    elapsed_ms = 0
    for name, changes in LEGS:
        tour.leg(name, changes)
        gc.collect()
        gc.disable()
        start = ticks_ms()
        allocated += tour.run(per_leg, lock, seen)
        elapsed_ms += ticks_diff(ticks_ms(), start)
        gc.enable()
        ticks += per_leg
    print(
        json.dumps(
            {
                "ticks": ticks,
                "states": [s for s in range(12) if seen[s]],
                "alloc_bytes_per_tick": allocated / ticks,
                "ticks_per_s": int(ticks * 1000 / max(1, elapsed_ms)),
                "heap_locked": lock,
            }
        )
    )


main()
