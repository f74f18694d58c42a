"""The charging kernel: one ``step(now_ms)`` decides relay, PWM and lock.

    kernel = Kernel(Params(), Settings())
    kernel.inputs.cp_high_mv = ...        # the HAL fills the inputs,
    kernel.step(now_ms)                   # the kernel decides,
    relay, duty = kernel.relay, kernel.pwm_permille   # the HAL applies them.

A steady-state step allocates nothing (no floats, tuples, strings or
exceptions), so it can run with the MicroPython heap locked and garbage
collection never delays a relay decision.

Faults come in two kinds. Latched ones (contactor welded or not closing,
emergency power off, residual current) hold the CP at state F until the
charger restarts: only a restart (``SystemInfo`` service code ``Reset`` or a
power cycle), which runs the boot self-tests again, clears them. The others
(state E, diode, PP, lock, over-temperature, a vehicle drawing more than
offered) hold state F for at least 300 ms, then return the CP to a steady
+12 V so the vehicle can be watched, and clear when their cause is gone (most
of them when the vehicle is unplugged).
"""

from evse.compat import const, ticks_diff
from evse import states as S
from evse.pilot import (
    PilotClassifier,
    adc_to_cp_mv,
    duty_permille,
    DIODE_OK_BELOW_MV,
    MIN_CURRENT_A,
    PWM_OFF,
    PWM_F,
)
from evse.proximity import cable_rating_a
from evse.lock import PlugLock
from evse.contactor import Contactor, WELDED
from evse.session import Session

FAULT_HOLD_MS = const(300)  # state F is held at least this long after a fault
OPEN_AFTER_PWM_OFF_MS = const(6000)  # vehicle keeps charging after PWM off
DUTY_CHANGE_MS = const(5000)  # the duty changes at most this often, except to stop
PWM_SETTLE_MS = const(20)  # PWM runs this long before its low level is judged
DIODE_DEBOUNCE_MS = const(20)
PP_DEBOUNCE_MS = const(100)
OVERCURRENT_MS = const(5000)  # a vehicle may exceed the offer this long
OVERCURRENT_MARGIN_A = const(2)
TEMP_HYSTERESIS_C10 = const(100)
RCM_TEST_MS = const(60)  # the RCM must trip within this of its test input
RCM_RELEASE_MS = const(200)  # and release within this after it

_BOOT_TEST = const(0)
_BOOT_RELEASE = const(1)
_RUN = const(2)


class Params:
    """What the board fixes: calibration, which sensors exist, ratings."""

    def __init__(self):
        self.cp_adc_at_p12_mv = 2900
        self.cp_adc_at_m12_mv = 100
        self.pp_pullup_ohm = 1000
        self.pp_vref_mv = 3300
        self.relay_feedback = True
        self.relay_settle_ms = 200
        self.lock_feedback = True
        self.rcm_present = True
        self.temp_present = True
        self.temp_derate_c10 = 600  # deci-degrees C: derating starts
        self.temp_stop_c10 = 800  # deci-degrees C: charging stops
        self.max_current_a = 32  # the charger's own rating
        self.nominal_voltage = 230


class Settings:
    """What the user configures (SystemConfig) that the kernel acts on."""

    def __init__(self):
        self.charge_current_a = 16
        self.boost_current_a = 32
        self.auto_start = True
        self.three_phase = True
        self.case_b = False  # ChargerMode 1: socket with PP and plug lock
        self.lock_method = 0
        self.ventilation = False  # the site ventilates, so state D may charge


class Inputs:
    """Readings the HAL supplies before each step (ADC values in millivolts)."""

    def __init__(self):
        self.cp_high_mv = 0
        self.cp_low_mv = 0
        self.pp_mv = 0
        self.relay_closed = False  # contactor feedback
        self.lock_locked = False  # lock feedback
        self.epo = False  # emergency power off input active
        self.rcm_trip = False  # residual current monitor tripped
        self.temp_c10 = 250  # board temperature, deci-degrees C
        self.current_a = -1  # highest phase current from the board's sensor, -1 none
        # From the charger's meter (meter 1), written between ticks by the
        # metering task; -1 while unknown or stale.
        self.meter_current_a = -1  # highest phase current
        self.power_w = -1  # charging power


class Kernel:
    def __init__(self, params, settings):
        self.params = params
        self.settings = settings
        self.inputs = Inputs()
        self.pilot = PilotClassifier()
        self.contactor = Contactor(params.relay_feedback, params.relay_settle_ms)
        self.lock = PlugLock(settings.lock_method, params.lock_feedback)
        self.session = Session()
        self.limit_a = 80  # cap set by load management
        # Outputs.
        self.state = S.WAITING
        self.relay = False
        self.pwm_permille = PWM_OFF
        self.lock_drive = 0
        self.rcm_test = False
        # Observable status.
        self.cp = S.CP_UNKNOWN
        self.pp_a = 0
        self.offered_a = 0
        self._target = 0  # what the offer is heading for (the 5 s rule may hold it back)
        self.current_a = 0
        self.power_w = 0
        self.connected = False
        self.started = False
        self.boosted = False
        self.latched = 0
        self.fault = 0
        self.cause = S.CAUSE_NONE
        self.diode_ok = False
        self.quiet = False  # nothing pending: a simulator may take longer steps
        # Timers (tick values) and their flags.
        self._phase = _BOOT_TEST
        self._phase_since = 0
        self._first = True
        self._last = 0
        self._blind = False
        self._fault_since = 0
        self._pwm_on_since = 0
        self._pwm_off_since = 0
        self._offer_since = 0
        self._offer_ever = False
        self._diode_bad = False
        self._diode_bad_since = 0
        self._pp_bad = False
        self._pp_bad_since = 0
        self._over = False
        self._over_since = 0

    # -- commands (called between steps, e.g. from the WebAPI) -------------

    @property
    def start_stop_allowed(self):
        return self._phase == _RUN and self.connected and not self.latched and not self.fault

    @property
    def boost_allowed(self):
        return self.start_stop_allowed and self.started

    def toggle_start(self):
        """ChargeStartToggle: start or stop charging; False if not possible now."""
        if not self.start_stop_allowed:
            return False
        self.started = not self.started
        return True

    def toggle_boost(self):
        """ChargeBoostToggle: BOOST on/off for this session; False if not possible now."""
        if not self.boost_allowed and not self.boosted:
            return False
        self.boosted = not self.boosted
        return True

    # -- the control step ----------------------------------------------------

    def step(self, now):
        i = self.inputs
        p = self.params
        if self._first:
            self._first = False
            self._last = now
            self._phase_since = now
        dt = ticks_diff(now, self._last)
        self._last = now
        if dt < 0:
            dt = 0

        self._classify(now)
        self.contactor.step(now, i.relay_closed)
        self.lock.step(now, i.lock_locked)
        self.lock.method = self.settings.lock_method

        if self._phase != _RUN:
            self._self_test(now)

        if not self.latched:
            if i.epo:
                self._latch(now, S.EPO_F, S.CAUSE_NONE)
            elif self.contactor.fault:
                self._latch(now, S.RELAY_ERR_F, S.CAUSE_NONE)
            elif p.rcm_present and i.rcm_trip and self._phase == _RUN:
                self._latch(now, S.GENERAL_ERR, S.CAUSE_RCM)

        cp = self.cp
        if cp == S.CP_A:
            if self.connected:
                self._unplugged()
        elif cp == S.CP_B or cp == S.CP_C or cp == S.CP_D:
            if not self.connected:
                self._plugged()
        self._read_pp(now)

        if self.latched:
            self.state = self.latched
            self._stop_all(now, True)
        elif self._phase != _RUN:
            self.state = S.WAITING
            self._stop_all(now, False)
        else:
            if self.fault:
                self._watch_fault(now)
            if not self.fault:  # a second cause already present takes over at once
                self._detect_fault(now)
            if self.fault:
                self.state = self.fault
                self._stop_all(now, ticks_diff(now, self._fault_since) < FAULT_HOLD_MS)
            else:
                self._charge(now)

        self._account(dt)
        self.relay = self.contactor.closed
        self.lock_drive = self.lock.drive
        self._update_quiet(now)

    # -- pieces of the step --------------------------------------------------

    def _classify(self, now):
        """Classify the CP samples taken while the previous outputs were applied."""
        i = self.inputs
        p = self.params
        if self.pwm_permille == PWM_F:
            # While we drive -12 V the high level shows nothing of the vehicle.
            self._blind = True
            return
        if self._blind:
            self._blind = False
            self.pilot.reset(now)
        self.cp = self.pilot.update(now, adc_to_cp_mv(i.cp_high_mv, p.cp_adc_at_p12_mv, p.cp_adc_at_m12_mv))
        pwm = self.pwm_permille
        if pwm == PWM_OFF or ticks_diff(now, self._pwm_on_since) < PWM_SETTLE_MS:
            self.diode_ok = False
            self._diode_bad = False
            return
        low = adc_to_cp_mv(i.cp_low_mv, p.cp_adc_at_p12_mv, p.cp_adc_at_m12_mv)
        if low <= DIODE_OK_BELOW_MV:
            self.diode_ok = True
            self._diode_bad = False
        elif not self._diode_bad:
            self._diode_bad = True
            self._diode_bad_since = now

    def _read_pp(self, now):
        p = self.params
        if not self.settings.case_b:
            self.pp_a = 0
            self._pp_bad = False
            return
        rating = cable_rating_a(self.inputs.pp_mv, p.pp_pullup_ohm, p.pp_vref_mv)
        if rating > 0:
            self.pp_a = rating
            self._pp_bad = False
        elif not self._pp_bad:
            self._pp_bad = True
            self._pp_bad_since = now

    def _self_test(self, now):
        """Boot: pulse the RCM's test input and see it trip, then release."""
        i = self.inputs
        elapsed = ticks_diff(now, self._phase_since)
        if self._phase == _BOOT_TEST:
            if not self.params.rcm_present:
                self._phase = _RUN
                return
            self.rcm_test = True
            if elapsed >= RCM_TEST_MS:
                self.rcm_test = False
                self._phase = _BOOT_RELEASE
                self._phase_since = now
                if not i.rcm_trip:
                    self._latch(now, S.GENERAL_ERR, S.CAUSE_RCM_SELFTEST)
        elif elapsed >= RCM_RELEASE_MS:
            self._phase = _RUN
            if i.rcm_trip:
                self._latch(now, S.GENERAL_ERR, S.CAUSE_RCM)

    def _latch(self, now, state, cause):
        self.latched = state
        self.cause = cause
        self._fault_since = now
        self._phase = _RUN
        self.rcm_test = False

    def _plugged(self):
        self.connected = True
        self.session.clear()
        self.session.active = True
        self.started = self.settings.auto_start
        self.boosted = False

    def _unplugged(self):
        self.connected = False
        self.started = False
        self.boosted = False
        self.session.active = False

    def _detect_fault(self, now):
        i = self.inputs
        p = self.params
        cp = self.cp
        fault = 0
        cause = S.CAUSE_NONE
        if cp == S.CP_E:
            fault = S.EV_ERR_E
        elif cp == S.CP_F:
            fault = S.GENERAL_ERR
            cause = S.CAUSE_CP_INVALID
        elif p.temp_present and i.temp_c10 >= p.temp_stop_c10:
            fault = S.GENERAL_ERR
            cause = S.CAUSE_OVERTEMP
        elif self._diode_bad and self.connected and ticks_diff(now, self._diode_bad_since) >= DIODE_DEBOUNCE_MS:
            fault = S.DIODE_ERR
        elif self._pp_bad and self.connected and ticks_diff(now, self._pp_bad_since) >= PP_DEBOUNCE_MS:
            fault = S.PP_ERR_F
        elif self.settings.case_b and self.lock.failed:
            fault = S.LOCK_ERR_F
        elif self._over and ticks_diff(now, self._over_since) >= OVERCURRENT_MS:
            fault = S.GENERAL_ERR
            cause = S.CAUSE_OVERCURRENT
        if fault:
            self.fault = fault
            self.cause = cause
            self._fault_since = now

    def _watch_fault(self, now):
        """Clear a non-latched fault once its cause is gone (after the F hold)."""
        if ticks_diff(now, self._fault_since) < FAULT_HOLD_MS:
            return
        cp = self.cp
        fault = self.fault
        if fault == S.EV_ERR_E or (fault == S.GENERAL_ERR and self.cause == S.CAUSE_CP_INVALID):
            cleared = cp != S.CP_UNKNOWN and cp != S.CP_E and cp != S.CP_F
        elif fault == S.GENERAL_ERR and self.cause == S.CAUSE_OVERTEMP:
            cleared = self.inputs.temp_c10 < self.params.temp_stop_c10 - TEMP_HYSTERESIS_C10
        elif fault == S.PP_ERR_F:
            cleared = cp == S.CP_A or not self._pp_bad
        elif fault == S.LOCK_ERR_F:
            cleared = cp == S.CP_A and not self.lock.busy and not self.lock.locked
        else:  # diode, overcurrent: until the vehicle is unplugged
            cleared = cp == S.CP_A
        if cleared:
            self.fault = 0
            self.cause = S.CAUSE_NONE
            self._over = False
            self._diode_bad = False

    def _stop_all(self, now, hold_f):
        """Fault or self-test: contactor open at once, no offer, CP at F while held."""
        self.contactor.command(False, now)
        self.offered_a = 0
        self.pwm_permille = PWM_F if hold_f else PWM_OFF
        # A welded contactor may leave the socket live: keep the plug locked.
        if self.latched == S.RELAY_ERR_F and self.contactor.fault == WELDED:
            return
        if not self.inputs.relay_closed:
            self.lock.want(False, now)

    def _target_a(self):
        """The current to offer now, before the 5 s rule; 0 = no offer."""
        st = self.settings
        p = self.params
        if not (self.started and self.connected):
            return 0
        if st.case_b and not self.lock.locked:
            return 0
        a = st.boost_current_a if self.boosted else st.charge_current_a
        if self.limit_a < a:
            a = self.limit_a
        if p.max_current_a < a:
            a = p.max_current_a
        if st.case_b and self.pp_a < a:
            a = self.pp_a
        if p.temp_present and self.inputs.temp_c10 > p.temp_derate_c10:
            # Linear derating from the full current down to 6 A at the stop point.
            cap = a - (a - MIN_CURRENT_A) * (self.inputs.temp_c10 - p.temp_derate_c10) // (
                p.temp_stop_c10 - p.temp_derate_c10
            )
            if cap < a:
                a = cap
        if a < MIN_CURRENT_A:
            return 0
        return a

    def _charge(self, now):
        st = self.settings
        cp = self.cp
        if cp == S.CP_A:
            self.state = S.IDLE_A
        elif cp == S.CP_B:
            self.state = S.CONNECTED_B
        elif cp == S.CP_C:
            self.state = S.CHARGE_C
        elif cp == S.CP_D:
            self.state = S.VENT_D
        elif self.state == S.WAITING or self.state in S.FAULT_STATES:
            self.state = S.WAITING  # the CP is being re-read after F

        # The lock: closed for a started session, opened only with the contactor open.
        if st.case_b:
            want = self.started and self.connected and self.pp_a > 0
            if want or (not self.contactor.closed and not self.inputs.relay_closed):
                self.lock.want(want, now)
        elif self.lock.want_locked:
            self.lock.want(False, now)

        # The offer, changed at most once per DUTY_CHANGE_MS except to stop.
        target = self._target = self._target_a()
        if target != self.offered_a:
            # The cable's and the charger's ratings are hard limits: never wait to respect them.
            over_rating = self.offered_a > self.params.max_current_a or (st.case_b and self.offered_a > self.pp_a)
            if target == 0 or over_rating or not self._offer_ever or ticks_diff(now, self._offer_since) >= DUTY_CHANGE_MS:
                self.offered_a = target
                self._offer_since = now
                self._offer_ever = True
                self._over = False
        was_on = self.pwm_permille != PWM_OFF and self.pwm_permille != PWM_F
        self.pwm_permille = duty_permille(self.offered_a)
        pwm_on = self.pwm_permille != PWM_OFF
        if pwm_on and not was_on:
            self._pwm_on_since = now
        elif was_on and not pwm_on:
            self._pwm_off_since = now

        # The contactor.
        demand = cp == S.CP_C or (cp == S.CP_D and st.ventilation)
        lock_ok = not st.case_b or self.lock.locked
        c = self.contactor
        if c.closed:
            if not demand or not lock_ok:
                c.command(False, now)
            elif not pwm_on and ticks_diff(now, self._pwm_off_since) >= OPEN_AFTER_PWM_OFF_MS:
                c.command(False, now)  # the vehicle did not stop by itself
        elif demand and pwm_on and self.diode_ok and lock_ok and self.offered_a >= MIN_CURRENT_A:
            c.command(True, now)

        # A vehicle drawing clearly more than offered.
        measured = self._measured_a()
        limit = self.offered_a + OVERCURRENT_MARGIN_A + self.offered_a // 10
        if c.closed and pwm_on and measured > limit:
            if not self._over:
                self._over = True
                self._over_since = now
        else:
            self._over = False

    def _measured_a(self):
        i = self.inputs
        return i.meter_current_a if i.meter_current_a > i.current_a else i.current_a

    def _account(self, dt):
        i = self.inputs
        running = self.contactor.closed
        if running and i.power_w >= 0:
            self.power_w = i.power_w
        elif running:
            phases = 3 if self.settings.three_phase else 1
            self.power_w = self.offered_a * self.params.nominal_voltage * phases
        else:
            self.power_w = 0
        measured = self._measured_a()
        if running and measured >= 0:
            self.current_a = measured
        elif self.pwm_permille != PWM_OFF and self.pwm_permille != PWM_F:
            self.current_a = self.offered_a
        else:
            self.current_a = 0
        if self.session.active and (self.started or running):
            self.session.accrue(dt, self.power_w, running)

    def _update_quiet(self, now):
        """True when no timer is pending: the outputs only change with the inputs."""
        i = self.inputs
        c = self.contactor
        self.quiet = (
            self._phase == _RUN
            and self.pilot.settled
            and self.cp != S.CP_UNKNOWN
            and not self._blind
            and not self.lock.busy
            and (not c.has_feedback or i.relay_closed == c.closed)
            and not self._diode_bad
            and not self._pp_bad
            and not self._over
            and (self.latched or not self.fault or ticks_diff(now, self._fault_since) >= FAULT_HOLD_MS)
            and (self.fault or self.latched or self._target == self.offered_a)
            and not (c.closed and self.pwm_permille == PWM_OFF)
            and (self.pwm_permille == PWM_OFF or ticks_diff(now, self._pwm_on_since) >= PWM_SETTLE_MS)
        )
