"""External control (evse.external): an EVerest EvseManager, as in board-support
mode, asks for the duty and for the contactor; the kernel obeys only within
its own safety rules, and falls back to safe when the heartbeat stops.

Driven on the real kernel and simulated board, in virtual time; runs under
CPython and both MicroPython ports (test_micropython_port)."""

from evse import states as S
from evse import kernel as K
from evse.external import External, HEARTBEAT_TIMEOUT_MS, asked_a
from evse.pilot import PWM_OFF, PWM_F, duty_permille
from bench import Bench, pwm_on, TICK_MS


class Everest:
    """The controller's side: requests plus a heartbeat every ``beat_ms``
    of the bench's virtual time, from a tick hook (until ``silent``)."""

    def __init__(self, bench, beat_ms=1000):
        self.b = bench
        self.x = bench.kernel.external = External()
        self.beat_ms = beat_ms
        self.silent = False
        self._last = None
        bench.hook = self._tick
        self.beat()

    def beat(self):
        self.x.heartbeat(self.b.now)
        self._last = self.b.elapsed

    def _tick(self, b):
        if not self.silent and b.elapsed - self._last >= self.beat_ms:
            self.beat()

    def pwm_amps(self, amps):
        # As EVerest computes it (amps / 0.6 %), to the nearest per mille.
        self.x.duty = (amps * 100 + 3) // 6 if amps <= 51 else amps * 4 + 640
        self.b.changed()

    def allow(self, on=True):
        self.x.allow = on
        self.b.changed()


def test_every_whole_ampere_everest_asks_for_is_read_back_and_never_exceeded():
    for amps in range(6, 81):
        pct = amps / 0.6 if amps <= 51 else amps / 2.5 + 64  # EVerest's duty
        permille = int(pct * 10 + 0.5)  # the adapter's rounding
        # 52 A is 84.8 %, which the table (below 85 %) reads as 50.88 A.
        expected = 50 if amps == 52 else amps
        assert asked_a(permille) == expected, (amps, permille)
        assert duty_permille(expected) <= pct * 10, amps  # what the kernel drives
    assert asked_a(50) == 0 and asked_a(1000) == 0 and asked_a(0) == 0 and asked_a(970) == 0


def _charging(amps=16, **settings):
    """An EVerest-steered session, charging: plug, PWM, C, allow."""
    b = Bench(**settings)
    ev = Everest(b)
    b.vehicle("B")
    b.run(500)
    assert not pwm_on(b.pwm), "offered before the controller asked"
    ev.pwm_amps(amps)
    assert b.until(lambda b: pwm_on(b.pwm), 1000) is not None
    b.vehicle("C")
    b.run(500)
    assert not b.relay, "closed before allow_power_on"
    ev.allow()
    assert b.until(lambda b: b.relay, 1000) is not None
    return b, ev


def test_a_session_steered_by_the_controller():
    b, ev = _charging(13)
    assert b.offered == 13 and b.pwm == duty_permille(13)
    assert b.state == S.CHARGE_C
    b.run(3000)
    assert b.k.session.energy_ws > 0
    # EVerest stops: PWM off (X1), the vehicle goes to B, then power off.
    ev.x.duty = PWM_OFF
    b.changed()
    assert b.until(lambda b: b.pwm == PWM_OFF, 100) is not None
    b.vehicle("B")
    assert b.until(lambda b: not b.relay, 1000) is not None
    ev.allow(False)
    b.run(1000)
    assert not b.relay


def test_withdrawing_allow_power_on_opens_at_once():
    b, ev = _charging()
    ev.allow(False)
    b.tick()
    assert not b.k.relay
    b.run(2000)
    assert not b.relay and b.state == S.CHARGE_C


def test_the_duty_asked_is_clamped_to_settings_limit_cable_and_rating():
    b, ev = _charging(40, charge_current_a=20)
    assert b.offered == 20  # the setting
    b, ev = _charging(40, charge_current_a=32)
    b.k.limit_a = 10  # the site (load management, OCPP...)
    b.changed()
    assert b.until(lambda b: b.offered == 10, 6000) is not None
    b, ev = _charging(80, charge_current_a=80)
    assert b.offered == b.params.max_current_a < 80  # the charger's rating


def test_a_socket_is_locked_only_when_asked_and_the_cable_caps_the_offer():
    b = Bench(case_b=True, charge_current_a=32)
    ev = Everest(b)
    b.vehicle("B", cable_a=20)
    ev.pwm_amps(32)
    b.run(1000)
    assert not b.k.lock.locked and not pwm_on(b.pwm)
    ev.x.lock = True
    b.changed()
    assert b.until(lambda b: pwm_on(b.pwm), 3000) is not None
    assert b.offered == 20  # the cable's rating
    b.vehicle("C")
    ev.allow()
    assert b.until(lambda b: b.relay, 1000) is not None
    ev.x.lock = False  # an unlock while charging waits for the contactor
    b.run(500)
    assert b.k.lock.locked and b.relay


def test_asking_for_power_with_no_vehicle_in_b_or_in_a_fault_is_refused():
    b = Bench()
    ev = Everest(b)
    ev.pwm_amps(16)
    ev.allow()
    b.run(2000)
    assert not b.relay and not pwm_on(b.pwm)  # no vehicle: not even a PWM
    b.vehicle("B")
    assert b.until(lambda b: pwm_on(b.pwm), 1000) is not None
    b.run(3000)
    assert not b.relay  # B: the vehicle does not ask
    b.vehicle("D")
    b.run(3000)
    assert not b.relay and b.state == S.VENT_D  # D without ventilation
    b.fault("DiodeShort")
    b.vehicle("C")
    b.run(3000)
    assert not b.relay and b.state == S.DIODE_ERR
    b.fault("DiodeShort", False)
    b.vehicle("A")
    b.run(1000)
    b.vehicle("C")
    b.temp(900)  # over-temperature
    b.run(5000)
    assert not b.relay and b.state == S.GENERAL_ERR and b.k.cause == S.CAUSE_OVERTEMP


def test_a_fault_while_charging_opens_whatever_the_controller_asks():
    b, ev = _charging()
    b.fault("CpShort")  # state E
    assert b.until(lambda b: not b.k.relay, 100) is not None
    assert b.state == S.EV_ERR_E and b.pwm == PWM_F
    assert b.stays(lambda b: not b.relay, 2000)
    # Cleared, with the controller still asking: a fresh close, as in a normal session.
    b.fault("CpShort", False)
    assert b.until(lambda b: b.relay, 8000) is not None


def test_a_lower_duty_is_obeyed_at_once_a_higher_one_after_5_s():
    b, ev = _charging(16)
    ev.pwm_amps(10)
    b.tick()
    assert b.offered == 10
    ev.pwm_amps(14)
    t = b.until(lambda b: b.offered == 14, K.DUTY_CHANGE_MS + 100)
    assert t is not None and t >= K.DUTY_CHANGE_MS - 2 * TICK_MS, t


def test_state_f_asked_for_opens_at_once_and_x1_is_steady_plus_12_v():
    b, ev = _charging()
    ev.x.duty = PWM_F
    b.changed()
    b.tick()
    assert not b.k.relay and b.pwm == PWM_F and b.offered == 0
    b.run(2000)
    assert not b.relay and b.pwm == PWM_F
    ev.x.duty = PWM_OFF  # X1
    b.changed()
    b.tick()
    assert b.pwm == PWM_OFF
    b.run(2000)
    assert not b.relay and b.state == S.CHARGE_C  # the CP read again after F


def test_an_hlc_duty_of_5_percent_offers_nothing():
    b = Bench()
    ev = Everest(b)
    b.vehicle("C")
    ev.x.duty = 50
    ev.allow()
    b.run(3000)
    assert not pwm_on(b.pwm) and not b.relay


def test_silence_mid_charge_drops_the_offer_and_opens_on_the_kernels_timing():
    b, ev = _charging()
    ev.silent = True
    t = b.until(lambda b: not pwm_on(b.pwm), HEARTBEAT_TIMEOUT_MS + 1000)
    assert t is not None and t <= HEARTBEAT_TIMEOUT_MS, t
    assert b.k.external.lost and not b.k.external.allow
    # The vehicle keeps asking (C): the contactor opens 6 s after the PWM went off.
    opened = b.until(lambda b: not b.relay, K.OPEN_AFTER_PWM_OFF_MS + 100)
    assert opened is not None and opened >= K.OPEN_AFTER_PWM_OFF_MS - 2 * TICK_MS, opened
    # A controller that comes back must ask again: a heartbeat alone closes nothing.
    ev.silent = False
    ev.beat()
    b.run(7000)
    assert not b.relay and not pwm_on(b.pwm)
    ev.pwm_amps(16)
    ev.allow()
    assert b.until(lambda b: b.relay, 8000) is not None


def test_silence_while_the_vehicle_stops_opens_as_soon_as_it_leaves_c():
    b, ev = _charging()
    ev.silent = True
    assert b.until(lambda b: not pwm_on(b.pwm), HEARTBEAT_TIMEOUT_MS + 100) is not None
    b.vehicle("B")  # the vehicle follows the PWM off
    assert b.until(lambda b: not b.relay, 200) is not None


def test_no_heartbeat_yet_means_no_offer():
    b = Bench()
    x = b.kernel.external = External()
    x.duty = duty_permille(16)
    x.allow = True
    b.vehicle("C")
    b.run(5000)
    assert not pwm_on(b.pwm) and not b.relay
    assert b.kernel.quiet  # nothing pending: no deadline runs while silent


def test_the_heartbeat_deadline_holds_across_the_ticks_wrap():
    from evse.compat import TICKS_PERIOD

    b = Bench(start_ms=TICKS_PERIOD - 2000)
    ev = Everest(b, beat_ms=500)
    b.vehicle("C")
    ev.pwm_amps(16)
    ev.allow()
    assert b.until(lambda b: b.relay, 3000) is not None
    b.run(5000)  # across the wrap, heartbeats on time
    assert b.relay and not ev.x.lost
    ev.silent = True
    t = b.until(lambda b: ev.x.lost, 5000)
    assert t is not None and t <= HEARTBEAT_TIMEOUT_MS, t


def test_without_a_controller_nothing_changes():
    b = Bench()
    assert b.kernel.external is None
    b.charging()
    assert b.relay and b.offered == 16
