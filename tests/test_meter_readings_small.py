"""A meter's wild reading (a garbled register, inf) reaches the kernel held
to app.metering's bounds, so power x tick milliseconds stays a small int on
a 32-bit MicroPython and the control tick allocates nothing."""

import math

import pytest

from app import metering
from app.clock import VirtualClock
from charger.manager import EvseManager
from evse.kernel import Kernel, Params, Settings
from meters import models


class Meter:
    """Meter 1 reading ``power_w`` and ``amps`` on every phase, fresh."""

    def __init__(self, power_w, amps):
        self.power, self.amps = power_w, amps
        self.stamps = [-1]

    def power_w(self, now):
        return self.power

    def per_phase(self, meaning, now):
        return [self.amps] * 3

    def index(self, meaning):
        return -1 if meaning != models.IMPORT else 0

    def fresh(self, i, now):
        return False


class Charger:
    """What app.metering takes from app.runtime.Charger: the kernel, the
    settings, the clock and the charger interface its limit goes through."""

    def __init__(self):
        self.config = {"Meter1Type": 0, "Meter2Type": 0, "ControlStrategy": 0, "MqttBroker": ""}
        self.kernel = Kernel(Params(), Settings())
        self.clock = VirtualClock()
        self.manager = EvseManager(self)


@pytest.mark.parametrize("power_w, amps", [(1e12, 1e9), (math.inf, math.inf), (2.5e9, 3e6)])
def test_wild_meter_readings_are_held_to_small_ints(tmp_path, monkeypatch, power_w, amps):
    monkeypatch.setattr(metering, "models", models)
    m = metering.Metering(Charger(), kept_path=str(tmp_path / "meters.json"))
    m.meters[0] = Meter(power_w, amps)
    m.update(0)
    i = m.charger.kernel.inputs
    assert i.power_w == metering.MAX_POWER_W and i.meter_current_a == metering.MAX_CURRENT_A
    assert i.power_w * 5000 < 2**30  # a 5 s tick's energy in mW*s, on 32-bit


def test_ordinary_readings_pass_unchanged(tmp_path, monkeypatch):
    monkeypatch.setattr(metering, "models", models)
    m = metering.Metering(Charger(), kept_path=str(tmp_path / "meters.json"))
    m.meters[0] = Meter(11039.6, 15.8)
    m.update(0)
    assert (m.charger.kernel.inputs.power_w, m.charger.kernel.inputs.meter_current_a) == (11040, 16)
