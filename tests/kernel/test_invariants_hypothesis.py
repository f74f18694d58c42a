"""Kernel invariants under random use (CPython only: hypothesis).

A hypothesis state machine drives the bench (real kernel + simulated board)
with random board variants, vehicle states, cables, loads, injected faults
(every name in hal.sim.FAULTS), settings changes, limits, toggles and time,
and checks the safety invariants after EVERY 10 ms tick. Tolerances are the
documented ones only: CP classification (debounce), diode and PP debounce,
the 6 s a vehicle may keep drawing after the PWM is switched off, and the 5 s
duty rule for lowering the offer to a new setting or limit (not to a rating).
It also holds the kernel to its ``quiet`` promise (with the same inputs after
a quiet tick, no output changes), which the simulator's coarse steps rely on.

The closing checks compare the kernel with the simulated world, not with its
own beliefs: at every close the vehicle must physically have asked for charge
for a debounced CP reading, the PWM must physically have run long enough for
a fresh diode check, the diode must be physically there, and the contactor
must have been open for RECLOSE_MS.

The default run is derandomized (the same 200 examples every time), so the
suite is a deterministic gate. EVSE_HYPOTHESIS_EXAMPLES=2000 runs a longer,
random search: do that after changing the kernel. EVSE_HYPOTHESIS_SHRINK=1
shrinks a failure to a minimal example (slow: minutes).
"""

import os

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from evse import states as S
from evse import kernel as K
from evse import pilot
from evse.compat import TICKS_PERIOD
from hal.sim import FAULTS
from bench import Bench, load_board, pwm_on, is_fault, TICK_MS, outputs

CABLES = (13, 20, 32, 63, None)
# Faults that latch end the interesting part of a run: draw them less often.
LATCHING = ("RelayWeld", "RelayNoClose", "Epo", "Rcm")
FAULT_CHOICES = tuple(FAULTS) + tuple(f for f in FAULTS if f not in LATCHING) * 2
# After each change to the world, some time passes (0..2 s) before the next one.
THEN = st.integers(0, 200)
CLASSIFIED_MS = pilot.DEBOUNCE_SAMPLES * TICK_MS  # a CP change is acted on this late at most
DIODE_MS = K.DIODE_DEBOUNCE_MS + TICK_MS
PP_MS = K.PP_DEBOUNCE_MS + TICK_MS
TEMP_MS = K.TEMP_DEBOUNCE_MS + TICK_MS
# A CP level is read from DEBOUNCE_SAMPLES samples, the first one tick after the change.
SETTLED_MS = (pilot.DEBOUNCE_SAMPLES - 1) * TICK_MS


def _inputs(k):
    i = k.inputs
    return (
        i.cp_high_mv,
        i.cp_low_mv,
        i.pp_mv,
        i.relay_closed,
        i.lock_locked,
        i.epo,
        i.rcm_trip,
        i.temp_c10,
        i.current_a,
        i.power_w,
    )


class KernelMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.b = None

    # -- setup ------------------------------------------------------------------

    @initialize(
        servo=st.booleans(),
        lock_feedback=st.booleans(),
        rcm=st.booleans(),
        case_b=st.booleans(),
        ventilation=st.booleans(),
        auto_start=st.booleans(),
        three_phase=st.booleans(),
        start_ms=st.sampled_from((0, 123450, TICKS_PERIOD - 3000)),
        boot=st.booleans(),
    )
    def setup(self, servo, lock_feedback, rcm, case_b, ventilation, auto_start, three_phase, start_ms, boot):
        conf = load_board()
        if servo:
            conf["lock"]["type"] = "servo"
        if not lock_feedback:
            del conf["lock"]["feedback_pin"]
        if not rcm:
            del conf["rcm"]
        b = Bench(
            board=conf,
            boot=boot,
            start_ms=start_ms,
            case_b=case_b,
            ventilation=ventilation,
            auto_start=auto_start,
            three_phase=three_phase,
        )
        self.b = b
        k = b.kernel
        # What the checks remember between ticks.
        self.prev_outputs = outputs(k)
        self.prev_inputs = None
        self.prev_quiet = k.quiet
        self.world_changed = True
        self.prev_latched = k.latched
        self.prev_pwm = k.pwm_permille
        self.prev_offered = k.offered_a
        self.prev_relay = k.relay
        self.pwm_off_at = None  # when the PWM last went from on to off
        self.pwm_on_at = None  # when the PWM last went from off to on
        self.closed_at = None  # when the contactor last closed
        self.last_offer_change = None  # when the PWM last changed to an offering duty
        self.fault_at = None  # when the current fault began
        self.prev_fault_key = (k.fault, k.latched)
        self.exceed_at = None  # since when the offer exceeds the configuration
        self.demand_lost_at = None  # physical: last CP change while not demanding
        self.diode_bad_at = None
        self.pp_bad_at = None
        self.cable_changed_at = None
        self.hot_at = None  # since when the board reads the stop point or the sensor is broken
        self.asking_since = None  # physical: since when the CP shows C or D (the vehicle asks)
        self.phys_pwm_on_at = None  # physical: since when the PWM runs (what the vehicle sees)
        self.opened_at = None  # when the contactor last opened
        self.prev_connected = k.connected
        self.prev_case_b = k.case_b
        self.jam_ever = False
        self._update_world(initial=True)

    # -- the world ----------------------------------------------------------------

    def _physical_demand(self):
        b = self.b
        v = b.board.vehicle.state
        if b.board.faults["CpShort"]:
            return False
        return v == "C" or (v == "D" and b.settings.ventilation)

    def _cable_valid(self):
        b = self.b
        return b.board.vehicle.cable_a is not None and not b.board.faults["PpOpen"]

    def _update_world(self, initial=False):
        """Note what changed in the world since the last tick (before the next one)."""
        b = self.b
        now = b.elapsed
        self.world_changed = True
        if self._physical_demand():
            self.demand_lost_at = None
        elif initial or self.demand_lost_at is None or self._cp_changed:
            self.demand_lost_at = now
        asking = b.board.vehicle.state in ("C", "D") and not b.board.faults["CpShort"]
        if not asking:
            self.asking_since = None
        elif self.asking_since is None:
            self.asking_since = now  # the CP shows C or D from the next tick
        if b.params.temp_present and (b.board.temp_c10 >= b.params.temp_stop_c10 or b.board.faults["TempSensor"]):
            if self.hot_at is None:
                self.hot_at = now
        else:
            self.hot_at = None
        self._cp_changed = False
        if self.b.board.faults["DiodeShort"]:
            if self.diode_bad_at is None:
                self.diode_bad_at = now
        else:
            self.diode_bad_at = None
        if self._cable_valid():
            self.pp_bad_at = None
        elif self.pp_bad_at is None:
            self.pp_bad_at = now

    _cp_changed = False

    @rule(state=st.sampled_from("ABCD"), then=THEN)
    def vehicle_state(self, state, then):
        if state != self.b.board.vehicle.state:
            self._cp_changed = True
        self.b.vehicle(state)
        self._update_world()
        self._advance(then * TICK_MS)

    @rule(cable=st.sampled_from(CABLES), then=THEN)
    def cable(self, cable, then):
        if cable != self.b.board.vehicle.cable_a:
            self.cable_changed_at = self.b.elapsed
        self.b.vehicle(cable_a=cable)
        self._update_world()
        self._advance(then * TICK_MS)

    @rule(draw=st.one_of(st.none(), st.integers(0, 40)), then=THEN)
    def draw(self, draw, then):
        self.b.vehicle(draw_a=draw)
        self._update_world()
        self._advance(then * TICK_MS)

    @rule(name=st.sampled_from(FAULT_CHOICES), on=st.booleans(), then=THEN)
    def fault(self, name, on, then):
        if name == "CpShort" and on != self.b.board.faults["CpShort"]:
            self._cp_changed = True
        if name == "LockJam" and on:
            self.jam_ever = True
        if name == "PpOpen" and on != self.b.board.faults["PpOpen"]:
            self.cable_changed_at = self.b.elapsed
        self.b.fault(name, on)
        self._update_world()
        self._advance(then * TICK_MS)

    @rule(c10=st.integers(200, 950), then=THEN)
    def temperature(self, c10, then):
        self.b.temp(c10)
        self._update_world()
        self._advance(then * TICK_MS)

    @rule(case_b=st.booleans(), then=THEN)
    def set_case_b(self, case_b, then):
        self.b.settings.case_b = case_b
        self._update_world()
        self._advance(then * TICK_MS)

    @rule(ventilation=st.booleans(), then=THEN)
    def set_ventilation(self, ventilation, then):
        self.b.settings.ventilation = ventilation
        self._cp_changed = True  # the demand may change with it
        self._update_world()
        self._advance(then * TICK_MS)

    @rule(amps=st.integers(6, 80), then=THEN)
    def set_charge_current(self, amps, then):
        self.b.settings.charge_current_a = amps
        self._update_world()
        self._advance(then * TICK_MS)

    @rule(amps=st.integers(6, 80), then=THEN)
    def set_boost_current(self, amps, then):
        self.b.settings.boost_current_a = amps
        self._update_world()
        self._advance(then * TICK_MS)

    @rule(amps=st.integers(0, 80), then=THEN)
    def set_limit(self, amps, then):
        self.b.kernel.limit_a = amps
        self._update_world()
        self._advance(then * TICK_MS)

    @rule(then=THEN)
    def toggle_start(self, then):
        k = self.b.kernel
        allowed = k.start_stop_allowed
        started = k.started
        assert k.toggle_start() is allowed
        assert k.started == (started != allowed)
        self._update_world()
        self._advance(then * TICK_MS)

    @rule(then=THEN)
    def toggle_boost(self, then):
        k = self.b.kernel
        allowed = k.boost_allowed or k.boosted
        boosted = k.boosted
        assert k.toggle_boost() is allowed
        assert k.boosted == (boosted != allowed)
        self._update_world()
        self._advance(then * TICK_MS)

    @rule(ms=st.integers(1, 30))
    def short_wait(self, ms):
        self._advance(ms * TICK_MS)

    @rule(ms=st.integers(1, 700))
    def wait(self, ms):
        self._advance(ms * TICK_MS)

    # -- time and the checks ------------------------------------------------------

    def _advance(self, ms):
        for _ in range(ms // TICK_MS):
            self.b.tick()
            self._check()

    def _check(self):
        b = self.b
        k = b.kernel
        st_ = b.settings
        p = b.params
        now = b.elapsed
        out = outputs(k)
        inputs = _inputs(k)

        # EvseState is a WebAPI value.
        assert 0 <= k.state <= 11, k.state

        # Latched faults stay latched.
        if self.prev_latched:
            assert k.latched == self.prev_latched, (self.prev_latched, k.latched)
        self.prev_latched = k.latched

        # Any fault state: contactor open on that very tick; CP at F or steady +12 V.
        if is_fault(k.state) or k.fault or k.latched:
            assert not k.relay, ("contactor closed in fault", S.NAMES[k.state])
            assert k.offered_a == 0
            assert not pwm_on(k.pwm_permille)
        if not b.board.faults["RelayWeld"]:
            assert b.board.relay_closed == k.relay or (b.board.faults["RelayNoClose"] and not b.board.relay_closed)

        # Inputs that stop everything at once.
        if b.board.faults["Epo"]:
            assert k.latched, "EPO input not latched"
        if b.board.faults["Rcm"] and p.rcm_present and k.state != S.WAITING:
            assert k.latched, "RCM trip not latched"
        if self.hot_at is not None and now - self.hot_at >= TEMP_MS:
            assert not k.relay
            assert k.state == S.WAITING or k.fault or k.latched, ("over-temperature not stopped", S.NAMES[k.state])

        # The mode in force (ChargerMode) stays fixed while a vehicle is connected.
        if k.connected and self.prev_connected:
            assert k.case_b == self.prev_case_b, "ChargerMode changed during a session"
        self.prev_connected = k.connected
        self.prev_case_b = k.case_b

        # A fault begins: state F is held at least FAULT_HOLD_MS.
        key = (k.fault, k.latched)
        if key != self.prev_fault_key:
            if k.fault or k.latched:
                self.fault_at = now
            self.prev_fault_key = key
        if k.latched:
            assert k.pwm_permille == pilot.PWM_F
        elif k.fault and now - self.fault_at < K.FAULT_HOLD_MS:
            assert k.pwm_permille == pilot.PWM_F, ("F not held", now - self.fault_at, k.pwm_permille)

        # The PWM says what is offered; F only in a fault.
        pwm = k.pwm_permille
        if pwm == pilot.PWM_F:
            assert is_fault(k.state), S.NAMES[k.state]
        else:
            assert pwm == pilot.duty_permille(k.offered_a), (pwm, k.offered_a)

        # The duty changes at most once per 5 s, except to stop (or to come down
        # to a rating, the cable's as the PP now reads it: a hard limit); an
        # offer comes back no sooner than 5 s after a stop.
        if pwm != self.prev_pwm:
            if pwm_on(pwm) and not pwm_on(self.prev_pwm) and self.pwm_off_at is not None:
                assert now - self.pwm_off_at >= K.DUTY_CHANGE_MS, ("offer back within 5 s of a stop", now - self.pwm_off_at)
            if pwm_on(pwm):
                if self.last_offer_change is not None and now - self.last_offer_change < K.DUTY_CHANGE_MS:
                    to_rating = k.case_b and self.prev_offered > k.pp_a >= k.offered_a
                    assert to_rating, ("duty changed twice within 5 s", now - self.last_offer_change, self.prev_offered, k.offered_a)
                self.last_offer_change = now
            elif pwm_on(self.prev_pwm):
                self.pwm_off_at = now
            if pwm_on(pwm) and not pwm_on(self.prev_pwm):
                self.pwm_on_at = now
            self.prev_pwm = pwm

        self.prev_offered = k.offered_a

        # The offer: never above the charger's or the cable's rating; above the
        # configuration (setting, BOOST, limit) for less than 5 s (the duty rule).
        offered = k.offered_a
        assert offered == 0 or 6 <= offered <= p.max_current_a, offered
        if k.case_b and offered:
            assert offered <= k.pp_a, ("offer above the PP rating", offered, k.pp_a)
            cable = b.board.vehicle.cable_a
            settled = self.cable_changed_at is None or now - self.cable_changed_at >= PP_MS
            if self._cable_valid() and settled:
                assert offered <= cable, ("offer above the cable", offered, cable)
        configured = st_.boost_current_a if k.boosted else st_.charge_current_a
        if k.limit_a < configured:
            configured = k.limit_a
        if offered > configured:
            if self.exceed_at is None:
                self.exceed_at = now
            assert now - self.exceed_at < K.DUTY_CHANGE_MS, ("offer above the configuration", offered, configured)
        else:
            self.exceed_at = None

        # The contactor closes only when everything agrees, physically.
        if k.relay and not self.prev_relay:
            self.closed_at = now
            assert self.asking_since is not None and now - self.asking_since >= SETTLED_MS, (
                "closed without a settled CP reading of the vehicle asking",
                self.asking_since,
            )
            assert self.phys_pwm_on_at is not None and now - self.phys_pwm_on_at >= K.PWM_SETTLE_MS, (
                "closed without a fresh diode check under the PWM the vehicle saw",
                self.phys_pwm_on_at,
            )
            assert not b.board.faults["DiodeShort"], "closed with the diode shorted"
            if self.opened_at is not None:
                assert now - self.opened_at >= K.RECLOSE_MS, ("reclosed too soon", now - self.opened_at)
        elif self.prev_relay and not k.relay:
            self.opened_at = now
        self.prev_relay = k.relay
        # What the vehicle sees from the next tick on.
        if pwm_on(b.board.pwm_permille):
            if self.phys_pwm_on_at is None:
                self.phys_pwm_on_at = now
        else:
            self.phys_pwm_on_at = None
        if k.relay:
            assert k.cp == S.CP_C or (k.cp == S.CP_D and st_.ventilation), ("closed in CP", k.cp)
            if self.demand_lost_at is not None:
                assert now - self.demand_lost_at < CLASSIFIED_MS, ("closed after the demand ended", now - self.demand_lost_at)
            assert not k.fault and not k.latched
            if pwm_on(pwm):
                # The diode is judged on the low level once the PWM has run PWM_SETTLE_MS.
                seen_from = self.pwm_on_at + K.PWM_SETTLE_MS - TICK_MS
                if self.closed_at == now and self.closed_at > self.pwm_on_at:
                    # Closed during this PWM period: only with the diode seen (a bad
                    # low level after the close withdraws diode_ok at once).
                    assert k.diode_ok, "closed before the diode was checked"
                if self.diode_bad_at is not None:
                    if self.diode_bad_at > seen_from:
                        seen_from = self.diode_bad_at
                    assert now - seen_from < DIODE_MS, ("closed with a shorted diode", now - seen_from)
                assert offered >= 6
            else:
                assert pwm == pilot.PWM_OFF
                assert self.pwm_off_at is not None and now - self.pwm_off_at < K.OPEN_AFTER_PWM_OFF_MS, (
                    "closed too long after PWM off",
                    now - self.pwm_off_at,
                )
            if k.case_b:
                assert k.lock.locked, "closed with the plug unlocked"
                # Without a lock switch a jammed lock cannot be seen: only check the
                # plug itself where the board reads it, or where no jam ever happened.
                if p.lock_feedback or not self.jam_ever:
                    assert b.board.locked, "closed with the plug unlocked (switch)"
                assert k.pp_a > 0
                if self.pp_bad_at is not None:
                    assert now - self.pp_bad_at < PP_MS, ("closed with PP invalid", now - self.pp_bad_at)
            phases = 3 if st_.three_phase else 1
            assert k.power_w == offered * p.nominal_voltage * phases
            assert k.session.estimated
        else:
            assert k.power_w == 0

        # Quiet: nothing pending, so with the same inputs (and no command or
        # setting changed) the outputs stay as they were.
        if self.prev_quiet and not self.world_changed and inputs == self.prev_inputs:
            assert out == self.prev_outputs, ("outputs changed after a quiet tick", self.prev_outputs, out)
        self.prev_quiet = k.quiet
        self.prev_outputs = out
        self.prev_inputs = inputs
        self.world_changed = False


TestKernelInvariants = KernelMachine.TestCase
# Each step runs up to thousands of ticks, so shrinking a failure can take
# minutes: it is off unless EVSE_HYPOTHESIS_SHRINK=1 (the failing example is
# printed either way, and replayed first on the next run from .hypothesis/).
_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target)
if os.environ.get("EVSE_HYPOTHESIS_SHRINK"):
    _PHASES = _PHASES + (Phase.shrink,)
_SEARCH = os.environ.get("EVSE_HYPOTHESIS_EXAMPLES")
TestKernelInvariants.settings = settings(
    max_examples=int(_SEARCH or "200"),
    derandomize=not _SEARCH,
    stateful_step_count=40,
    deadline=None,
    phases=_PHASES,
    suppress_health_check=(HealthCheck.too_slow,),
)
