"""EVerest board support, end to end: the real firmware under the MicroPython
unix port (``evsectl sim``, virtual time, MqttEverest 2) talks to Debian's
mosquitto; paho-mqtt plays EVerest's EvseManager (everest_bsp.Everest,
every payload validated against the AsyncAPI YAML); the simulator's control
API plugs the vehicle, advances time and shows the contactor and the PWM.

Virtual time moves only with /sim/v1/Time, so EVerest's heartbeat is sent
between the steps, and a command is followed by a heartbeat whose answer
(communication_check) comes back once the firmware has taken both in."""

import pytest

from everest_bsp import Everest
from evse.external import HEARTBEAT_TIMEOUT_MS
from evse.kernel import OPEN_AFTER_PWM_OFF_MS

PREFIX = "garage/evse"  # MqttPrefix: EVerest's module id is it with "_" for "/"
EVEREST = "everest_api/1/evse_board_support/garage_evse"


class Rig:
    def __init__(self, sim, ev):
        self.sim = sim
        self.ev = ev
        self.beats = 0

    def connect(self):
        """Wait until our subscription is in place: a heartbeat is answered."""
        for _ in range(40):
            self.ev.send("heartbeat", 0)
            try:
                self.ev.wait("communication_check", True, timeout=0.5)
                break
            except AssertionError:
                continue
        else:
            raise AssertionError("the charger never answered a heartbeat")
        self.ev.forget("communication_check")

    def beat(self):
        self.beats += 1
        self.ev.send("heartbeat", self.beats)
        self.ev.wait("communication_check", True)

    def send(self, name, value=None):
        self.ev.send(name, value)
        self.beat()

    def run(self, ms, step=500, beating=True):
        while ms > 0:
            if beating:
                self.beat()
            self.sim.advance(min(step, ms))
            ms -= step

    def board(self):
        return self.sim.board()


@pytest.fixture
def rig(sim_factory, broker):
    ev = Everest(broker.port, EVEREST, timeout=10)  # subscribed before the charger connects
    settings = dict(MqttBroker="127.0.0.1", MqttPort=broker.port, MqttPrefix=PREFIX, MqttHomeAssistant=False,
                    MqttEverest=2)
    sim = sim_factory(files={"config.json": settings}).client
    r = Rig(sim, ev)
    yield r
    ev.close()


def test_everest_drives_a_session_then_its_heartbeat_stops_mid_charge(rig):
    r, ev, sim = rig, rig.ev, rig.sim
    caps = ev.wait("capabilities")
    assert caps["connector_type"] == "IEC62196Type2Cable" and caps["max_current_A_import"] == 32
    ev.wait("event", {"event": "PowerOff"})
    r.connect()
    r.run(1000)
    ev.wait("event", {"event": "A"})
    sim.vehicle(State="B")
    r.run(1000)
    ev.wait("event", {"event": "B"})
    assert r.board()["PwmDutyPermille"] == 1000  # nothing offered until EVerest asks
    r.send("pwm_on", 16 / 0.6)
    r.run(1000)
    assert r.board()["PwmDutyPermille"] == 266  # 16 A
    sim.vehicle(State="C")
    r.run(1000)
    ev.wait("event", {"event": "C"})
    assert not r.board()["RelayClosed"]  # not allowed yet
    r.send("allow_power_on", {"allow_power_on": True, "reason": "FullPowerCharging"})
    r.run(1000)
    ev.wait("event", {"event": "PowerOn"})
    assert r.board()["RelayClosed"]
    r.run(10000)
    status = sim.status()
    assert status["EvseState"] == 5 and status["ActualEnergy"] > 0 and status["ActualCurrent"] == 16
    # EVerest falls silent: the offer drops within the deadline; the contactor
    # opens on the kernel's own timing (the vehicle stays in C).
    r.run(HEARTBEAT_TIMEOUT_MS, step=100, beating=False)
    board = r.board()
    assert board["PwmDutyPermille"] == 1000 and board["RelayClosed"]
    r.run(OPEN_AFTER_PWM_OFF_MS + 200, step=100, beating=False)
    ev.wait("event", {"event": "PowerOff"})
    assert not r.board()["RelayClosed"]
    # Back, the heartbeat alone offers and closes nothing.
    r.run(6000)
    board = r.board()
    assert board["PwmDutyPermille"] == 1000 and not board["RelayClosed"]


def test_power_asked_with_no_vehicle_in_b_or_with_a_fault_is_refused(rig):
    r, ev, sim = rig, rig.ev, rig.sim
    ev.wait("capabilities")
    r.connect()
    r.send("pwm_on", 16 / 0.6)
    r.send("allow_power_on", {"allow_power_on": True, "reason": "FullPowerCharging"})
    r.run(2000)
    assert not r.board()["RelayClosed"] and r.board()["PwmDutyPermille"] == 1000  # no vehicle
    sim.vehicle(State="B")
    r.run(2000)
    assert not r.board()["RelayClosed"] and r.board()["PwmDutyPermille"] == 266  # B: not asking
    sim.faults(DiodeShort=True)
    sim.vehicle(State="C")
    r.run(2000)
    ev.wait("raise_error", {"type": "DiodeFault", "sub_type": "EVSE_EV_DIODE_ERR", "message": "EVSE_EV_DIODE_ERR"})
    assert not r.board()["RelayClosed"]
    assert ("event", {"event": "PowerOn"}) not in ev.log
