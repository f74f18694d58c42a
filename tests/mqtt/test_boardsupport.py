"""EVerest board support (mqtt.boardsupport) against a real mosquitto, with
paho-mqtt playing EVerest's EvseManager (everest_bsp.Everest, which
validates every payload we publish against the AsyncAPI YAML).

The charger is the real one (app.runtime.Charger on the simulated board,
in virtual time, as tests/charger/rig.py builds it), on the firmware's own
MQTT client (mqtt.client), in an asyncio loop as on the device; the
vehicle is moved on the simulated board, as /sim/v1 moves it. Virtual time
advances only when the test says so; EVerest's heartbeat is sent between
the steps, as a real EvseManager sends one every second or so, and each
command is followed by a heartbeat whose communication_check comes back
only once the firmware has taken both in (MQTT keeps their order).
"""

import asyncio

from everest_bsp import Everest
from evse import states as S
from evse.external import HEARTBEAT_TIMEOUT_MS
from evse.kernel import OPEN_AFTER_PWM_OFF_MS
from evse.pilot import PWM_OFF
from mqtt.boardsupport import Adapter
from mqtt.client import MqttClient
from rig import Rig

PREFIX = "garage/evse"  # MqttPrefix: EVerest's module id is it with "_" for "/"
EVEREST = "everest_api/1/evse_board_support/garage_evse"


class Session:
    """The charger with its adapter on our client, and EVerest, on one broker."""

    def __init__(self, port, **settings):
        self.r = Rig(**settings)
        self.m = self.r.m
        self.ev = Everest(port, EVEREST)
        self.client = MqttClient("127.0.0.1", port, "evse-bsp")
        self.adapter = Adapter(self.r.charger, self.client, PREFIX)
        self.beats = 0
        self.beating = True

    async def start(self):
        self._task = asyncio.create_task(self.client.run())
        # Our subscription is in place once a heartbeat gets through.
        x = self.r.charger.kernel.external
        for _ in range(50):
            await asyncio.to_thread(self.ev.send, "heartbeat", 0)
            for _ in range(10):
                await asyncio.sleep(0.01)
                if not x.lost:
                    break
            if not x.lost:
                break
        assert not x.lost, "no heartbeat reached the charger"
        await asyncio.to_thread(self.ev.forget, "communication_check")  # those heartbeats' answers

    async def stop(self):
        await self.client.close()
        await self._task
        self.ev.close()

    async def wait(self, name, value=None):
        return await asyncio.to_thread(self.ev.wait, name, value)

    async def send(self, name, value=None, raw=None, valid=True):
        """EVerest sends a command, and a heartbeat after it: the firmware
        has taken both in when the heartbeat's answer comes."""
        await asyncio.to_thread(self.ev.send, name, value, raw, valid)
        await self.heartbeat()

    async def heartbeat(self):
        self.beats += 1
        await asyncio.to_thread(self.ev.send, "heartbeat", self.beats)
        await self.wait("communication_check", True)

    async def run(self, ms, step=500):
        """``ms`` of virtual time; a heartbeat every ``step`` while beating;
        the adapter publishes what changed after each step (as its run()
        loop does every 50 ms of real time)."""
        while ms > 0:
            if self.beating:
                await self.heartbeat()
            self.r.run(min(step, ms))
            self.adapter.poll()
            ms -= step


def bsp(broker, **settings):
    """Run ``test(session)`` (a coroutine function) on a started Session."""

    def decorate(test):
        async def main():
            s = Session(broker.port, **settings)
            await s.start()
            try:
                await test(s)
            finally:
                await s.stop()

        asyncio.run(main())

    return decorate


def test_connect_publishes_capabilities_and_the_state(broker):
    @bsp(broker)
    async def test(s):
        caps = await s.wait("capabilities")
        assert caps["max_current_A_import"] == s.adapter.x.rating_a and caps["min_current_A_import"] == 6
        assert caps["connector_type"] == "IEC62196Type2Cable" and not caps["supports_changing_phases_during_charging"]
        await s.wait("event", {"event": "A"})
        await s.wait("event", {"event": "PowerOff"})
        await s.wait("ac_nr_of_phases", 3)
        await s.wait("ac_pp_ampacity", {"ampacity": "None"})


def test_a_whole_session_then_the_heartbeat_stops_mid_charge(broker):
    @bsp(broker)
    async def test(s):
        ev, m = s.ev, s.m
        await s.wait("ac_pp_ampacity")
        await s.run(1000)
        s.r.vehicle("B")
        await s.run(1000)
        await s.wait("event", {"event": "B"})
        assert m.offered_a == 0  # EVerest has not asked
        await s.send("pwm_on", 16 / 0.6)  # 26.67 %: 16 A
        await s.run(1000)
        assert m.offered_a == 16
        s.r.vehicle("C")
        await s.run(1000)
        await s.wait("event", {"event": "C"})
        assert not m.charging  # not allowed yet
        await s.send("allow_power_on", {"allow_power_on": True, "reason": "FullPowerCharging"})
        await s.run(1000)
        await s.wait("event", {"event": "PowerOn"})
        assert m.charging and m.state == S.CHARGE_C
        await s.run(20000)
        assert m.session.energy_ws > 0 and m.power_w > 0
        # EVerest falls silent mid-charge: the offer drops within the deadline,
        # and the contactor opens on the kernel's timing (the vehicle stays in C).
        s.beating = False
        await s.run(HEARTBEAT_TIMEOUT_MS, step=100)
        assert m.offered_a == 0 and s.r.hal.pwm_permille == PWM_OFF and m.charging
        await s.run(OPEN_AFTER_PWM_OFF_MS + 500, step=100)
        await s.wait("event", {"event": "PowerOff"})
        assert not m.charging and not s.r.hal.relay_closed
        # Back, EVerest's heartbeat alone closes nothing.
        s.beating = True
        await s.run(8000)
        assert not m.charging and m.offered_a == 0
        assert ("event", {"event": "PowerOn"}) not in ev.drain()


def test_power_asked_with_no_car_in_b_or_with_a_fault_is_refused(broker):
    @bsp(broker)
    async def test(s):
        ev, m = s.ev, s.m
        await s.send("pwm_on", 16 / 0.6)
        await s.send("allow_power_on", {"allow_power_on": True, "reason": "FullPowerCharging"})
        await s.run(3000)
        assert not m.charging and m.offered_a == 0  # no vehicle
        s.r.vehicle("B")
        await s.run(3000)
        assert not m.charging and m.offered_a == 16  # B: the vehicle does not ask
        s.r.fault("DiodeShort")
        s.r.vehicle("C")
        await s.run(2000)
        await s.wait("raise_error", {"type": "DiodeFault", "sub_type": "EVSE_EV_DIODE_ERR", "message": "EVSE_EV_DIODE_ERR"})
        assert not m.charging and m.state == S.DIODE_ERR
        s.r.fault("DiodeShort", False)
        s.r.vehicle("A")
        await s.run(2000)
        await s.wait("clear_error", {"type": "DiodeFault", "sub_type": "EVSE_EV_DIODE_ERR", "message": "EVSE_EV_DIODE_ERR"})
        await s.wait("event", {"event": "A"})
        assert ("event", {"event": "PowerOn"}) not in ev.log


def test_allow_power_on_false_opens_at_once_and_state_f_stops_the_vehicle(broker):
    @bsp(broker)
    async def test(s):
        m = s.m
        await s.send("pwm_on", 10 / 0.6)
        await s.send("allow_power_on", {"allow_power_on": True, "reason": "FullPowerCharging"})
        s.r.vehicle("C")
        await s.run(3000)
        assert m.charging and m.offered_a == 10
        await s.send("allow_power_on", {"allow_power_on": False, "reason": "PowerOff"})
        await s.run(10, step=10)  # one tick
        assert not m.charging
        await s.wait("event", {"event": "PowerOff"})
        await s.send("allow_power_on", {"allow_power_on": True, "reason": "FullPowerCharging"})
        await s.run(2000)
        await s.wait("event", {"event": "PowerOn"})
        await s.send("cp_state_F")
        await s.run(10, step=10)
        assert not m.charging
        await s.wait("event", {"event": "F"})
        await s.wait("event", {"event": "PowerOff"})
        await s.send("cp_state_X1")
        await s.run(1000)
        await s.wait("event", {"event": "C"})  # the vehicle read again after F
        assert not m.charging and m.offered_a == 0


def test_disabled_offers_nothing_and_unsupported_commands_are_ignored(broker):
    @bsp(broker)
    async def test(s):
        m = s.m
        await s.send("enable", False)
        assert not m.enabled
        await s.send("pwm_on", 16 / 0.6)
        s.r.vehicle("B")
        await s.run(2000)
        assert m.offered_a == 0 and m.limit_source == "Disabled"
        await s.send("enable", True)
        await s.run(1000)
        assert m.enabled and m.offered_a == 16
        ignored = s.adapter.ignored
        await s.send("ac_switch_three_phases_while_charging", "SinglePhase")
        await s.send("ac_overcurrent_limit", 20)
        await s.send("pwm_on", 120, valid=False)  # out of range: changes nothing
        await s.send("pwm_on", raw=b"{not json")
        assert s.adapter.ignored == ignored + 4 and m.offered_a == 16


def test_a_stop_at_the_charger_asks_everest_to_stop_the_transaction(broker):
    @bsp(broker)
    async def test(s):
        m = s.m
        await s.send("pwm_on", 16 / 0.6)
        await s.send("allow_power_on", {"allow_power_on": True, "reason": "FullPowerCharging"})
        s.r.vehicle("C")
        await s.run(3000)
        assert m.charging and m.transaction_active
        assert m.toggle_start() is True  # the WebAPI's ChargeStartToggle
        await s.run(500)
        await s.wait("request_stop_transaction", {"reason": "Local"})
        assert m.charging  # EVerest stops the session: PWM off, then power off
        await s.send("cp_state_X1")
        await s.send("allow_power_on", {"allow_power_on": False, "reason": "PowerOff"})
        await s.run(500)
        await s.wait("event", {"event": "PowerOff"})


def test_rcd_reset_is_answered_on_reply_to(broker):
    @bsp(broker)
    async def test(s):
        await s.send("reset", {"headers": {"replyTo": EVEREST + "/reply/reset/42"}})
        assert await s.wait("reply/reset/42") is False


def test_a_socket_reports_the_cable_and_is_locked_when_asked(broker):
    @bsp(broker, ChargerMode=1, ChargeCurrent=32)
    async def test(s):
        m = s.m
        caps = await s.wait("capabilities")
        assert caps["connector_type"] == "IEC62196Type2Socket"
        s.r.vehicle("B", cable_a=20)
        await s.send("pwm_on", 32 / 0.6)
        await s.run(2000)
        await s.wait("ac_pp_ampacity", {"ampacity": "A_20"})
        assert m.offered_a == 0 and not s.r.hal.locked  # no lock asked: no offer
        await s.send("lock")
        await s.run(2000)
        assert s.r.hal.locked and m.offered_a == 20  # the cable caps EVerest's 32 A
