"""External control through EvseManager (EVerest's board support, evse.external)
on a real charger (simulated board, virtual time): the commands and their
refusals, a steered session whose control ticks allocate nothing, and the
fall back to safe when the heartbeat stops."""

from evse import states as S
from evse.external import HEARTBEAT_TIMEOUT_MS
from locked import heap_locked
from rig import Rig


def test_refusals_change_nothing_and_control_is_taken_for_good():
    r = Rig()
    m = r.m
    assert r.charger.kernel.external is None  # no controller: the kernel decides alone
    c = m.take_external_control()
    x = r.charger.kernel.external
    for bad in (-1, 1001, 26.6, True, "266", None):
        assert isinstance(c.pwm(bad), str)
    assert x.duty == 1000
    for bad in (1, "true", None):
        assert isinstance(c.allow_power_on(bad), str)
        assert isinstance(c.lock(bad), str)
    assert not x.allow and not x.lock
    assert c.pwm(266) is True and c.allow_power_on(True) is True
    assert x.duty == 266 and x.allow
    assert m.take_external_control() is c and r.charger.kernel.external is x  # for good


def test_board_support_configured_takes_control_at_boot():
    r = Rig(MqttBroker="127.0.0.1", MqttEverest=2)
    r.vehicle("C")
    r.run(5000)
    assert r.charger.kernel.external is not None
    assert not r.m.charging and r.m.offered_a == 0  # no heartbeat: nothing, ChargeAutoStart or not


def test_board_support_written_at_run_time_takes_control_at_the_restart():
    r = Rig()
    assert r.m.set_settings(dict(MqttBroker="127.0.0.1", MqttEverest=2)) == {}
    assert r.charger.kernel.external is None  # MQTT settings apply at a restart
    r.vehicle("C")
    r.run(3000)
    assert r.m.charging  # the kernel still decides alone


def test_a_steered_session_with_the_heap_locked_then_the_heartbeat_stops():
    r = Rig()
    m = r.m
    c = m.take_external_control()

    def leg(ms):
        # EVerest's heartbeat every 500 ms (between ticks: it may allocate).
        while ms > 0:
            c.heartbeat()
            heap_locked(lambda: r.run(500))
            ms -= 500

    r.vehicle("C")
    leg(2000)
    assert c.cp == "C" and not m.charging and m.offered_a == 0  # nothing asked yet
    c.pwm(267)  # 16 A
    leg(1000)
    assert m.offered_a == 16 and not m.charging  # no allow_power_on yet
    c.allow_power_on(True)
    leg(2000)
    assert m.charging and m.state == S.CHARGE_C
    leg(10000)
    assert m.session.energy_ws > 0
    # EVerest falls silent: the offer drops within the deadline, the
    # contactor opens on the kernel's timing (the vehicle stays in C: 6 s).
    heap_locked(lambda: r.run(HEARTBEAT_TIMEOUT_MS))
    assert m.offered_a == 0 and m.charging
    heap_locked(lambda: r.run(6500))
    assert not m.charging and c.cp == "C"
