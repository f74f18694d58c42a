"""A real charger for the charger/ tests: app.runtime.Charger on the
simulated board, in virtual time, with its files in the current directory.
Runs under CPython and MicroPython (tests/mpy_runner.py).

    r = Rig(ChargeAutoStart=False)   # settings written before it boots
    r.vehicle("C")                   # the simulated vehicle plugs in, asks for charge
    r.run(2000)                      # 2 s of control ticks
    r.names()                        # the session events since the last call
"""

import json

from app.runtime import Charger
from charger import events as E


def _dirname(path):
    i = path.rfind("/")
    return path[:i] if i > 0 else "."


BOARD = _dirname(_dirname(_dirname(__file__))) + "/boards/sim.json"


class Rig:
    def __init__(self, **settings):
        with open("sim.json", "w") as f:
            f.write(json.dumps({"virtual_time": True}))
        with open("config.json", "w") as f:  # whatever an earlier test left there
            f.write(json.dumps(settings))
        self.charger = Charger(BOARD, "config.json", "sim.json")
        self.m = self.charger.manager
        self.hal = self.charger.hal
        self.sub = self.m.events.subscribe()
        self.run(1000)  # the boot self-test

    def run(self, ms):
        self.charger.controller.advance(ms)

    def vehicle(self, state, **kw):
        self.hal.vehicle.set(state=state, **kw)
        self.hal.refresh()

    def fault(self, name, on=True):
        self.hal.faults[name] = on
        self.hal.refresh()

    def now(self):
        return self.charger.clock.ticks()

    def events(self):
        """(name, arg) of every event since the last call."""
        out = []
        while True:
            e = self.sub.poll()
            if e is None:
                return out
            out.append((E.NAMES[e[0]], e[1]))

    def names(self):
        return [name for name, _ in self.events()]
