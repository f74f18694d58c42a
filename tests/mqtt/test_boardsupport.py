"""EVerest board support (mqtt.boardsupport) against a real mosquitto, with
paho-mqtt playing EVerest's EvseManager (everest_bsp.Everest, which
validates every payload we publish against the AsyncAPI YAML).

The charger is the real one (app.runtime.Charger on the simulated board,
in virtual time, as tests/charger/rig.py builds it); the vehicle is moved
on the simulated board, as /sim/v1 moves it. Virtual time advances only
when the test says so, and EVerest's heartbeat is sent between the steps,
as a real EvseManager sends one every second or so.
"""

import os
import queue
import socket
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
for _path in (os.path.join(HERE, "..", "charger"), os.path.join(HERE, "..", "..", "firmware")):
    _path = os.path.normpath(_path)
    if _path not in sys.path:
        sys.path.insert(0, _path)

import paho.mqtt.client as paho  # noqa: E402

from everest_bsp import Everest  # noqa: E402
from evse import states as S  # noqa: E402
from evse.external import HEARTBEAT_TIMEOUT_MS  # noqa: E402
from evse.kernel import OPEN_AFTER_PWM_OFF_MS  # noqa: E402
from evse.pilot import PWM_OFF  # noqa: E402
from mqtt.boardsupport import Adapter  # noqa: E402
from rig import Rig  # noqa: E402

PREFIX = "everest_api/1/evse_board_support/evse_bsp"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def broker(tmp_path):
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % port)
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.05)
    yield port
    proc.terminate()
    proc.wait(10)


class FirmwareClient:
    """The firmware's side of the broker with the agreed client API
    (publish / subscribe / on_connect), on paho; what arrives is handed to
    the adapter on the test's thread, by ``deliver``, as the firmware's
    event loop would hand it over between control ticks."""

    def __init__(self, port):
        self._subs = []
        self._connected_cb = None
        self._inbox = queue.Queue()
        self._c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="evse-firmware")
        self._c.on_message = lambda c, u, msg: self._inbox.put((msg.topic, msg.payload))
        self._c.on_connect = lambda *a: self._inbox.put(None)
        self._subscribed = queue.Queue()
        self._c.on_subscribe = lambda *a: self._subscribed.put(True)
        self._port = port

    def publish(self, topic, payload, retain=False, qos=0):
        self._c.publish(topic, payload, qos=qos, retain=retain)

    def subscribe(self, filt, callback):
        self._subs.append((filt, callback))

    def on_connect(self, cb):
        self._connected_cb = cb

    def connect(self):
        self._c.connect("127.0.0.1", self._port)
        self._c.loop_start()
        assert self._inbox.get(timeout=5) is None
        for filt, _ in self._subs:
            self._c.subscribe(filt, qos=1)
            self._subscribed.get(timeout=5)
        self._connected_cb()

    def deliver(self, n=1, timeout=5):
        """Wait for ``n`` messages and hand them to their callbacks."""
        for _ in range(n):
            topic, payload = self._inbox.get(timeout=timeout)
            for filt, cb in self._subs:
                if paho.topic_matches_sub(filt, topic):
                    cb(topic, payload)

    def close(self):
        self._c.loop_stop()
        self._c.disconnect()


class Session:
    """The charger, its adapter and EVerest on one broker."""

    def __init__(self, port, **settings):
        self.r = Rig(**settings)
        self.m = self.r.m
        self.fw = FirmwareClient(port)
        self.adapter = Adapter(self.r.charger, self.fw, PREFIX)
        self.ev = Everest(port, PREFIX)
        self.fw.connect()
        self.beats = 0
        self.beating = True

    def close(self):
        self.fw.close()
        self.ev.close()

    def send(self, name, value=None, raw=None, valid=True):
        """EVerest sends a command; the firmware takes it in."""
        self.ev.send(name, value, raw, valid)
        self.fw.deliver()

    def heartbeat(self):
        self.beats += 1
        self.send("heartbeat", self.beats)
        self.ev.wait("communication_check", True)

    def run(self, ms, step=500):
        """``ms`` of virtual time; a heartbeat every ``step`` while beating;
        the adapter publishes what changed after each step."""
        while ms > 0:
            if self.beating:
                self.heartbeat()
            self.r.run(min(step, ms))
            self.adapter.poll()
            ms -= step


@pytest.fixture
def session(broker):
    made = []

    def make(**settings):
        s = Session(broker, **settings)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_connect_publishes_capabilities_and_the_state(session):
    s = session()
    ev = s.ev
    caps = ev.wait("capabilities")
    assert caps["max_current_A_import"] == s.m.rating_a and caps["min_current_A_import"] == 6
    assert caps["connector_type"] == "IEC62196Type2Cable" and not caps["supports_changing_phases_during_charging"]
    ev.wait("event", {"event": "A"})
    ev.wait("event", {"event": "PowerOff"})
    ev.wait("ac_nr_of_phases", 3)
    ev.wait("ac_pp_ampacity", {"ampacity": "None"})


def test_a_whole_session_then_the_heartbeat_stops_mid_charge(session):
    s = session()
    ev, m = s.ev, s.m
    ev.wait("ac_pp_ampacity")
    s.run(1000)
    s.r.vehicle("B")
    s.run(1000)
    ev.wait("event", {"event": "B"})
    assert m.offered_a == 0  # EVerest has not asked
    s.send("pwm_on", 16 / 0.6)  # 26.67 %: 16 A
    s.run(1000)
    assert m.offered_a == 16
    s.r.vehicle("C")
    s.run(1000)
    ev.wait("event", {"event": "C"})
    assert not m.charging  # not allowed yet
    s.send("allow_power_on", {"allow_power_on": True, "reason": "FullPowerCharging"})
    s.run(1000)
    ev.wait("event", {"event": "PowerOn"})
    assert m.charging and m.state == S.CHARGE_C
    s.run(20000)
    assert m.session.energy_ws > 0 and m.power_w > 0
    # EVerest falls silent mid-charge: the offer drops within the deadline,
    # and the contactor opens on the kernel's timing (the vehicle stays in C).
    s.beating = False
    s.run(HEARTBEAT_TIMEOUT_MS, step=100)
    assert m.offered_a == 0 and s.r.hal.pwm_permille == PWM_OFF and m.charging
    s.run(OPEN_AFTER_PWM_OFF_MS + 500, step=100)
    ev.wait("event", {"event": "PowerOff"})
    assert not m.charging and not s.r.hal.relay_closed
    # Back, EVerest's heartbeat alone closes nothing.
    s.beating = True
    s.run(8000)
    assert not m.charging and m.offered_a == 0
    assert ("event", {"event": "PowerOn"}) not in ev.drain()


def test_power_asked_with_no_car_in_b_or_with_a_fault_is_refused(session):
    s = session()
    ev, m = s.ev, s.m
    s.send("pwm_on", 16 / 0.6)
    s.send("allow_power_on", {"allow_power_on": True, "reason": "FullPowerCharging"})
    s.run(3000)
    assert not m.charging and m.offered_a == 0  # no vehicle
    s.r.vehicle("B")
    s.run(3000)
    assert not m.charging and m.offered_a == 16  # B: the vehicle does not ask
    s.r.fault("DiodeShort")
    s.r.vehicle("C")
    s.run(2000)
    ev.wait("raise_error", {"type": "DiodeFault", "sub_type": "EVSE_EV_DIODE_ERR", "message": "EVSE_EV_DIODE_ERR"})
    assert not m.charging and m.state == S.DIODE_ERR
    s.r.fault("DiodeShort", False)
    s.r.vehicle("A")
    s.run(2000)
    ev.wait("clear_error", {"type": "DiodeFault", "sub_type": "EVSE_EV_DIODE_ERR", "message": "EVSE_EV_DIODE_ERR"})
    ev.wait("event", {"event": "A"})
    assert ("event", {"event": "PowerOn"}) not in ev.log


def test_allow_power_on_false_opens_at_once_and_state_f_stops_the_vehicle(session):
    s = session()
    ev, m = s.ev, s.m
    s.send("pwm_on", 10 / 0.6)
    s.send("allow_power_on", {"allow_power_on": True, "reason": "FullPowerCharging"})
    s.r.vehicle("C")
    s.run(3000)
    assert m.charging and m.offered_a == 10
    s.send("allow_power_on", {"allow_power_on": False, "reason": "PowerOff"})
    s.run(500, step=10)  # one tick would do
    ev.wait("event", {"event": "PowerOff"})
    s.send("allow_power_on", {"allow_power_on": True, "reason": "FullPowerCharging"})
    s.run(2000)
    ev.wait("event", {"event": "PowerOn"})
    s.send("cp_state_F")
    s.run(10, step=10)
    assert not m.charging
    ev.wait("event", {"event": "F"})
    ev.wait("event", {"event": "PowerOff"})
    s.send("cp_state_X1")
    s.run(1000)
    ev.wait("event", {"event": "C"})  # the vehicle read again after F
    assert not m.charging and m.offered_a == 0


def test_disabled_offers_nothing_and_unsupported_commands_are_ignored(session):
    s = session()
    m = s.m
    s.send("enable", False)
    assert not m.enabled
    s.send("pwm_on", 16 / 0.6)
    s.r.vehicle("B")
    s.run(2000)
    assert m.offered_a == 0 and m.limit_source == "Disabled"
    s.send("enable", True)
    s.run(1000)
    assert m.enabled and m.offered_a == 16
    ignored = s.adapter.ignored
    s.send("ac_switch_three_phases_while_charging", "SinglePhase")
    s.send("ac_overcurrent_limit", 20)
    s.send("pwm_on", 120, valid=False)  # out of range: changes nothing
    s.send("pwm_on", raw=b"{not json")
    assert s.adapter.ignored == ignored + 4 and m.offered_a == 16


def test_a_stop_at_the_charger_asks_everest_to_stop_the_transaction(session):
    s = session()
    ev, m = s.ev, s.m
    s.send("pwm_on", 16 / 0.6)
    s.send("allow_power_on", {"allow_power_on": True, "reason": "FullPowerCharging"})
    s.r.vehicle("C")
    s.run(3000)
    assert m.charging and m.transaction_active
    assert m.toggle_start() is True  # the WebAPI's ChargeStartToggle
    s.run(500)
    ev.wait("request_stop_transaction", {"reason": "Local"})
    assert m.charging  # EVerest stops the session: PWM off, then power off
    s.send("cp_state_X1")
    s.send("allow_power_on", {"allow_power_on": False, "reason": "PowerOff"})
    s.run(500)
    ev.wait("event", {"event": "PowerOff"})


def test_rcd_reset_is_answered_on_reply_to(session):
    s = session()
    s.send("reset", {"headers": {"replyTo": PREFIX + "/reply/reset/42"}})
    assert s.ev.wait("reply/reset/42") is False


def test_a_socket_reports_the_cable_and_is_locked_when_asked(session):
    s = session(ChargerMode=1, ChargeCurrent=32)
    ev, m = s.ev, s.m
    caps = ev.wait("capabilities")
    assert caps["connector_type"] == "IEC62196Type2Socket"
    s.r.vehicle("B", cable_a=20)
    s.send("pwm_on", 32 / 0.6)
    s.run(2000)
    ev.wait("ac_pp_ampacity", {"ampacity": "A_20"})
    assert m.offered_a == 0 and not s.r.hal.locked  # no lock asked: no offer
    s.send("lock")
    s.run(2000)
    assert s.r.hal.locked and m.offered_a == 20  # the cable caps EVerest's 32 A
