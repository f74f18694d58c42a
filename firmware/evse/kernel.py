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
of them when the vehicle is unplugged). While the CP is held at F the
vehicle cannot be seen, so whatever was classified before is forgotten: a
close needs a fresh, settled CP reading and a fresh diode check. A latched
fault ends the session (the vehicle cannot be watched until the restart).

The residual-current monitor is tested at boot and again each time a vehicle
connects, with the contactor open, before the lock moves and the PWM starts.

Every time stamp is held within timer.HORIZON_MS of now on every step, so
no timer reads as fresh again after ticks_ms has gone round (6.2 days).

An external controller (EVerest's EvseManager, in board-support mode) may
take over the offer and the permission to close: ``kernel.external =
External()`` (evse.external says what it may ask and how the kernel still
guards it). Without one the kernel decides alone, as above.
"""

from evse.compat import const, ticks_add, ticks_diff
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
from evse.compat import held, HORIZON_MS

FAULT_HOLD_MS = const(300)  # state F is held at least this long after a fault
OPEN_AFTER_PWM_OFF_MS = const(6000)  # vehicle keeps charging after PWM off
DUTY_CHANGE_MS = const(5000)  # the duty changes at most this often, except to stop
PWM_SETTLE_MS = const(20)  # PWM runs this long before its low level is judged
DIODE_DEBOUNCE_MS = const(20)
# A PP reading (a rating, or invalid) is taken once it held this long. With the
# 10 ms tick a cable pulled out under load opens the contactor 60 ms later.
PP_DEBOUNCE_MS = const(50)
OVERCURRENT_MS = const(5000)  # a vehicle may exceed the offer this long
OVERCURRENT_MARGIN_A = const(2)
# Temperature changes slowly: the stop point (or a sensor fault) must be read
# for TEMP_DEBOUNCE_MS. The kernel's temperature (derating, recovery) takes a
# reading once the readings stayed on one side of it that long, and derating
# comes back up only _DERATE_HYSTERESIS_C10 below where it derated most.
TEMP_DEBOUNCE_MS = const(1000)
_DERATE_HYSTERESIS_C10 = const(20)
_TEMP_HYSTERESIS_C10 = const(100)  # over-temperature clears this far below the stop point
_ROOM_C10 = const(250)  # assumed until the sensor has been read for TEMP_DEBOUNCE_MS
RCM_TEST_MS = const(60)  # default: the RCM must trip within this of its test input
RCM_RELEASE_MS = const(200)  # and release within this after it
# Contactor wear: a reclose waits RECLOSE_MS after the last open, and each
# close costs _CYCLE_COST_MS of a budget that drains in real time; a vehicle
# that wants a close with less than that left (more than 10 closes beyond
# one per 6 s) gets a fault until it is unplugged.
RECLOSE_MS = const(1000)
_CYCLE_COST_MS = const(6000)
_CYCLE_BUDGET_MS = const(60000)

# The RCM self-test's phases: at boot, running, and when a vehicle connects
# (each test phase is followed by its release phase, its value + 1).
_TEST = const(0)
_RELEASE = const(1)
_RUN = const(2)
_PLUG_TEST = const(3)
_PLUG_RELEASE = const(4)


class Params:
    """What the board fixes: calibration, which sensors exist, ratings."""

    def __init__(self):
        self.cp_adc_at_p12_mv = 2900
        self.cp_adc_at_m12_mv = 100
        self.pp_pullup_ohm = 1000
        self.pp_vref_mv = 3300
        self.relay_feedback = True
        self.relay_settle_ms = 200
        self.lock_method = 0  # lock.SOLENOID or SERVO: the board's lock.type decides; LockMethod agrees
        self.lock_feedback = True
        self.rcm_present = True
        self.rcm_test_ms = RCM_TEST_MS
        self.temp_present = True
        self.temp_derate_c10 = 600  # deci-degrees C: derating starts
        self.temp_stop_c10 = 800  # deci-degrees C: charging stops
        self.max_current_a = 32  # the charger's own rating
        self.nominal_voltage = 230


class Settings:
    """What the user configures (SystemConfig) that the kernel acts on.

    ``case_b`` is read while no vehicle is connected; the mode in force
    (``Kernel.case_b``) then stays fixed until the vehicle leaves.
    """

    def __init__(self):
        self.charge_current_a = 16
        self.boost_current_a = 32
        self.auto_start = True
        self.three_phase = True
        self.case_b = False  # ChargerMode 1: socket with PP and plug lock
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
        self.temp_c10 = _ROOM_C10  # board temperature, deci-degrees C
        self.temp_fault = False  # the sensor reads a rail: open or shorted
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
        self.lock = PlugLock(params.lock_method, params.lock_feedback)
        self.session = Session()
        self.limit_a = 80  # cap set by load management
        # Set by EvseManager while a transaction's start is not yet recorded
        # where it is billed (OCPP's journal): no offer, so no vehicle can
        # draw energy that no record covers.
        self.hold_offer = False
        # An external controller's requests (evse.external.External), or None.
        self.external = None
        # Outputs.
        self.state = S.WAITING
        self.relay = False
        self.pwm_permille = PWM_OFF
        self.lock_drive = 0
        self.rcm_test = False
        # Observable status.
        self.cp = S.CP_UNKNOWN
        self.case_b = settings.case_b  # the mode in force (fixed while a vehicle is connected)
        self.pp_a = 0
        self.temp_c10 = _ROOM_C10  # the debounced temperature
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
        # Timers (tick values, held in step()) and their flags.
        self._phase = _TEST
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
        self._pp_seen = 0  # the rating the PP reads now (0: open or invalid)
        self._pp_since = 0  # since when it reads that (or the vehicle connected)
        self._temp_trouble = False  # at or above the stop point, or the sensor broken
        self._trouble_since = 0
        self._temp_side = 0  # the readings are above (1) or below (-1) temp_c10
        self._temp_since = 0
        self._derate_c10 = _ROOM_C10  # the temperature the derating goes by
        self._over = False
        self._over_since = 0
        self._cycle_ms = 0  # the contactor's cycling budget spent (drains with time)
        self._cycling = False  # a close was refused: the budget is spent

    # -- commands (called between steps, e.g. from the WebAPI) -------------

    @property
    def start_stop_allowed(self):
        # Also during the RCM test at plug-in: it is part of the vehicle's session.
        return self._phase >= _RUN and self.connected and not self.latched and not self.fault

    @property
    def boost_allowed(self):
        return self.start_stop_allowed and self.started

    def toggle_start(self):
        """ChargeStartToggle: start or stop charging; False if not possible now."""
        if not self.start_stop_allowed:
            return False
        self.started = not self.started
        return True

    def stop(self):
        """Stop charging, whatever the state (a transaction was stopped): no
        offer from the next step, and the contactor opens the safe way."""
        self.started = False

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
            # Every other timer starts long expired (the contactor last opened
            # long ago, no PWM has just started, ...).
            never = ticks_add(now, -HORIZON_MS)
            self._fault_since = self._pwm_on_since = self._pwm_off_since = never
            self._offer_since = self._diode_bad_since = self._pp_since = never
            self._temp_since = self._trouble_since = self._over_since = never
            self.contactor.since = never  # no reclose to wait for at boot
        dt = ticks_diff(now, self._last)
        self._last = now
        if dt < 0:
            dt = 0
        # Every stamp stays within compat.HORIZON_MS of now (see evse.compat.held).
        self._phase_since = held(now, self._phase_since)
        self._fault_since = held(now, self._fault_since)
        self._pwm_on_since = held(now, self._pwm_on_since)
        self._pwm_off_since = held(now, self._pwm_off_since)
        self._offer_since = held(now, self._offer_since)
        self._diode_bad_since = held(now, self._diode_bad_since)
        self._pp_since = held(now, self._pp_since)
        self._temp_since = held(now, self._temp_since)
        self._trouble_since = held(now, self._trouble_since)
        self._over_since = held(now, self._over_since)
        self._cycle_ms -= dt
        if self._cycle_ms < 0:
            self._cycle_ms = 0
        x = self.external
        if x is not None:
            x.step(now)  # its heartbeat deadline

        self._classify(now)
        self.contactor.step(now, i.relay_closed)
        self.lock.step(now, i.lock_locked)

        if self._phase != _RUN:
            self._self_test(now)

        if not self.latched:
            if i.epo:
                self._latch(now, S.EPO_F, S.CAUSE_NONE)
            elif self.contactor.fault:
                self._latch(now, S.RELAY_ERR_F, S.CAUSE_NONE)
            elif p.rcm_present and i.rcm_trip and self._phase == _RUN:
                # The RCM module integrates the residual current itself (its
                # trip times are its standard's); its output is a decision,
                # acted on at the first sample, as the EPO is.
                self._latch(now, S.GENERAL_ERR, S.CAUSE_RCM)

        cp = self.cp
        if self.latched:
            pass  # the vehicle cannot be seen while F is held
        elif cp == S.CP_A:
            if self.connected:
                self._unplugged()
        elif cp == S.CP_B or cp == S.CP_C or cp == S.CP_D:
            if not self.connected:
                self._plugged(now)
        if not self.connected:
            self.case_b = self.settings.case_b
        self._read_pp(now)
        self._read_temperature(now)

        if self.latched:
            self.state = self.latched
            self._stop_all(now, True)
            self._release_lock(now)
        elif self._phase != _RUN:
            self.state = S.WAITING
            self._stop_all(now, False)  # the lock waits until the state is known
        else:
            if self.fault:
                self._watch_fault(now)
            if not self.fault:  # a second cause already present takes over at once
                self._detect_fault(now)
            if self.fault:
                self.state = self.fault
                self._stop_all(now, ticks_diff(now, self._fault_since) < FAULT_HOLD_MS)
                self._release_lock(now)
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
            # While we drive -12 V the CP shows nothing of the vehicle: forget
            # what was seen, so nothing acts on it when F ends.
            self._blind = True
            self.cp = S.CP_UNKNOWN
            self.diode_ok = False
            self._diode_bad = False
            return
        if self._blind:
            self._blind = False
            self.pilot.reset()
        self.cp = self.pilot.update(adc_to_cp_mv(i.cp_high_mv, p.cp_adc_at_p12_mv, p.cp_adc_at_m12_mv))
        pwm = self.pwm_permille
        if pwm == PWM_OFF or ticks_diff(now, self._pwm_on_since) < PWM_SETTLE_MS:
            self.diode_ok = False
            self._diode_bad = False
            return
        low = adc_to_cp_mv(i.cp_low_mv, p.cp_adc_at_p12_mv, p.cp_adc_at_m12_mv)
        if low <= DIODE_OK_BELOW_MV:
            self.diode_ok = True
            self._diode_bad = False
        else:
            # A bad low level withdraws the diode check at once (no close
            # inside the debounce); only the fault waits for the debounce.
            self.diode_ok = False
            if not self._diode_bad:
                self._diode_bad = True
                self._diode_bad_since = now

    def _read_pp(self, now):
        p = self.params
        if not self.case_b:
            self.pp_a = 0
            self._pp_seen = 0
            return
        rating = cable_rating_a(self.inputs.pp_mv, p.pp_pullup_ohm, p.pp_vref_mv)
        if rating < 0:
            rating = 0
        if rating != self._pp_seen:
            self._pp_seen = rating
            self._pp_since = now
        elif self.pp_a != rating and ticks_diff(now, self._pp_since) >= PP_DEBOUNCE_MS:
            self.pp_a = rating

    def _read_temperature(self, now):
        i = self.inputs
        if not self.params.temp_present:
            return
        # At or above the stop point, or a broken sensor: a fault once either
        # (or one after the other) has lasted TEMP_DEBOUNCE_MS.
        trouble = i.temp_fault or i.temp_c10 >= self.params.temp_stop_c10
        if trouble and not self._temp_trouble:
            self._trouble_since = now
        self._temp_trouble = trouble
        if i.temp_fault:
            return  # the reading means nothing
        # The temperature the derating and the recovery go by: a reading is
        # taken once the readings stayed on one side of it for TEMP_DEBOUNCE_MS.
        side = 0
        if i.temp_c10 > self.temp_c10:
            side = 1
        elif i.temp_c10 < self.temp_c10:
            side = -1
        if side != self._temp_side:
            self._temp_side = side
            self._temp_since = now
        elif side and ticks_diff(now, self._temp_since) >= TEMP_DEBOUNCE_MS:
            self.temp_c10 = i.temp_c10
            self._temp_side = 0
        # Derating follows a rise at once, a fall only beyond the hysteresis.
        t = self.temp_c10
        if t > self._derate_c10 or t <= self._derate_c10 - _DERATE_HYSTERESIS_C10:
            self._derate_c10 = t

    def _self_test(self, now):
        """Pulse the RCM's test input and see it trip, then release (at boot
        and when a vehicle connects)."""
        i = self.inputs
        elapsed = ticks_diff(now, self._phase_since)
        if self._phase == _TEST or self._phase == _PLUG_TEST:
            if not self.params.rcm_present:
                self._phase = _RUN
                return
            self.rcm_test = True
            if elapsed >= self.params.rcm_test_ms:
                self.rcm_test = False
                self._phase += 1  # its release phase
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
        if self.connected:
            self._unplugged()  # the session ends: nothing charges until a restart

    def _plugged(self, now):
        self.connected = True
        self.case_b = self.settings.case_b  # the mode in force until the vehicle leaves
        self.session.clear()
        self.session.active = True
        self.started = self.settings.auto_start
        self.boosted = False
        self._pp_since = now  # the PP is judged afresh (its pin mates last)
        self._cycle_ms = 0
        if self.params.rcm_present and self._phase == _RUN:
            self._phase = _PLUG_TEST  # contactor open, before the lock and the PWM
            self._phase_since = now
            self.rcm_test = True

    def _unplugged(self):
        self.connected = False
        self.started = False
        self.boosted = False
        self.session.active = False

    def _detect_fault(self, now):
        cp = self.cp
        fault = 0
        cause = S.CAUSE_NONE
        if cp == S.CP_E:
            fault = S.EV_ERR_E
        elif cp == S.CP_F:
            fault = S.GENERAL_ERR
            cause = S.CAUSE_CP_INVALID
        elif self._temp_trouble and ticks_diff(now, self._trouble_since) >= TEMP_DEBOUNCE_MS:
            fault = S.GENERAL_ERR
            cause = S.CAUSE_TEMP_SENSOR if self.inputs.temp_fault else S.CAUSE_OVERTEMP
        elif self._diode_bad and self.connected and ticks_diff(now, self._diode_bad_since) >= DIODE_DEBOUNCE_MS:
            fault = S.DIODE_ERR
        elif (
            self.case_b
            and self.connected
            and self.pp_a == 0
            and self._pp_seen == 0
            and ticks_diff(now, self._pp_since) >= PP_DEBOUNCE_MS
        ):
            fault = S.PP_ERR_F  # the PP read open or invalid for the debounce
        elif self.case_b and self.lock.failed:
            fault = S.LOCK_ERR_F
        elif self._over and ticks_diff(now, self._over_since) >= OVERCURRENT_MS:
            fault = S.GENERAL_ERR
            cause = S.CAUSE_OVERCURRENT
        elif self._cycling:
            fault = S.GENERAL_ERR
            cause = S.CAUSE_CYCLING
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
        cause = self.cause
        if fault == S.EV_ERR_E or (fault == S.GENERAL_ERR and cause == S.CAUSE_CP_INVALID):
            cleared = cp != S.CP_UNKNOWN and cp != S.CP_E and cp != S.CP_F
        elif fault == S.GENERAL_ERR and (cause == S.CAUSE_OVERTEMP or cause == S.CAUSE_TEMP_SENSOR):
            cleared = not self._temp_trouble and self.temp_c10 < self.params.temp_stop_c10 - _TEMP_HYSTERESIS_C10
        elif fault == S.PP_ERR_F:
            cleared = cp == S.CP_A or self.pp_a > 0
        elif fault == S.LOCK_ERR_F:
            cleared = cp == S.CP_A and not self.lock.busy and not self.lock.locked
        else:  # diode, overcurrent, cycling: until the vehicle is unplugged
            cleared = cp == S.CP_A
        if cleared:
            self.fault = 0
            self.cause = S.CAUSE_NONE
            self._over = False
            self._diode_bad = False
            self._cycling = False

    def _stop_all(self, now, hold_f):
        """Fault or self-test: contactor open at once, no offer, CP at F while held."""
        self.contactor.command(False, now)
        if self.offered_a:
            self.offered_a = 0
            self._offer_since = now  # a stop restarts the 5 s window
        self.pwm_permille = PWM_F if hold_f else PWM_OFF

    def _release_lock(self, now):
        """Unlock, but only with the contactor open by command and by its
        feedback, and no weld latched: a welded contactor may leave the socket
        live. Every unlock goes through here."""
        c = self.contactor
        if c.closed or self.inputs.relay_closed or c.fault == WELDED:
            return
        self.lock.want(False, now)

    def _engaged(self):
        """The session wants the plug locked: started, or (an external
        controller) its lock asked for."""
        x = self.external
        if x is None:
            return self.started
        return x.lock and not x.lost

    def _target_a(self):
        """The current to offer now, before the 5 s rule; 0 = no offer."""
        st = self.settings
        p = self.params
        x = self.external
        if not self.connected or self.hold_offer:
            return 0
        if x is None and not self.started:
            return 0
        if self.case_b and not self.lock.locked:
            return 0
        a = st.boost_current_a if self.boosted else st.charge_current_a
        if x is not None:
            if x.lost:
                return 0
            asked = x.offer_a()  # 0 for X1, F, 5 %
            if asked < a:
                a = asked
        if self.limit_a < a:
            a = self.limit_a
        if p.max_current_a < a:
            a = p.max_current_a
        if self.case_b and self.pp_a < a:
            a = self.pp_a
        t = self._derate_c10
        if p.temp_present and t > p.temp_derate_c10:
            # Linear derating from the full current down to 6 A at the stop point.
            cap = a - (a - MIN_CURRENT_A) * (t - p.temp_derate_c10) // (
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

        x = self.external
        if x is not None and not x.lost and x.duty == PWM_F:
            # The controller asks for state F: the vehicle must stop at once,
            # so the contactor opens at once, as for a fault.
            self._target = 0
            self._stop_all(now, True)
            return

        # The lock: closed for a started session, opened only with the
        # contactor open; decided only once the CP is known.
        if cp != S.CP_UNKNOWN:
            if self.case_b and self._engaged() and self.connected and self.pp_a > 0:
                self.lock.want(True, now)
            elif self.case_b or self.lock.want_locked or self.lock.locked:
                self._release_lock(now)

        # The offer, changed at most once per DUTY_CHANGE_MS except to stop.
        target = self._target = self._target_a()
        if target != self.offered_a:
            # The cable's and the charger's ratings are hard limits: never wait to respect them.
            over_rating = self.offered_a > self.params.max_current_a or (self.case_b and self.offered_a > self.pp_a)
            # An external controller's lower word is obeyed at once: it keeps
            # its own duty timing, and the kernel never offers more than asked.
            lowered = self.external is not None and target < self.offered_a
            if (
                target == 0
                or over_rating
                or lowered
                or not self._offer_ever
                or ticks_diff(now, self._offer_since) >= DUTY_CHANGE_MS
            ):
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
        lock_ok = not self.case_b or self.lock.locked
        # An external controller must allow the close; withdrawn, the
        # contactor opens at once (a silent one is not obeyed: its requests
        # are forgotten and the kernel opens on its own timing).
        allowed = x is None or (x.allow and not x.lost)
        refused = x is not None and not x.lost and not x.allow
        c = self.contactor
        if c.closed:
            if not demand or not lock_ok or refused:
                self.contactor.command(False, now)
            elif not pwm_on and ticks_diff(now, self._pwm_off_since) >= OPEN_AFTER_PWM_OFF_MS:
                self.contactor.command(False, now)  # the vehicle did not stop by itself
        elif (
            demand
            and pwm_on
            and self.diode_ok
            and lock_ok
            and allowed
            and self.offered_a >= MIN_CURRENT_A
            and ticks_diff(now, c.since) >= RECLOSE_MS  # open that long
        ):
            if self._cycle_ms > _CYCLE_BUDGET_MS - _CYCLE_COST_MS:
                self._cycling = True  # refused: a fault from the next step
            else:
                c.command(True, now)
                self._cycle_ms += _CYCLE_COST_MS

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
            # The CP read and settled, or not read at all while a latch holds F
            # (F just set: the next step forgets the CP).
            and (
                (self.pilot.settled and self.cp != S.CP_UNKNOWN and self.pwm_permille != PWM_F)
                or (self.latched and self._blind)
            )
            and not self.lock.busy
            and (not c.has_feedback or i.relay_closed == c.closed)
            and not self._diode_bad
            and self._pp_seen == self.pp_a
            and not (self.connected and self.case_b and self.pp_a == 0 and not self.fault and not self.latched)
            and not self._temp_side
            and not (self._temp_trouble and not self.fault and not self.latched)
            and not self._over
            and not self._cycling
            and (c.closed or ticks_diff(now, c.since) >= RECLOSE_MS)
            and (self.latched or not self.fault or ticks_diff(now, self._fault_since) >= FAULT_HOLD_MS)
            and (self.fault or self.latched or self._target == self.offered_a)
            and not (c.closed and self.pwm_permille == PWM_OFF)
            and (self.pwm_permille == PWM_OFF or ticks_diff(now, self._pwm_on_since) >= PWM_SETTLE_MS)
            # A live external controller's heartbeat deadline is a timer.
            and (self.external is None or self.external.lost)
        )
