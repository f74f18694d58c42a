"""No sequence of an external controller's requests gets past the kernel's
guard (CPython only: hypothesis).

A hypothesis state machine plays EVerest's EvseManager in board-support
mode (evse.external): random duties (X1, F, 5 %, any per mille, the
currents it would ask for), allow_power_on, lock, heartbeats and silences,
while the simulated world changes under it (vehicle states, cables, every
fault of hal.sim.FAULTS, temperature, the site limit, ventilation). After
EVERY 10 ms tick it checks, against the physical world where it can:

- the contactor never closes outside C (or D with ventilation), without a
  settled CP reading of the vehicle asking, without the diode, with a
  fault, unlocked on a socket, or without allow_power_on from a live
  controller;
- it is open on the tick after allow_power_on is withdrawn or state F is
  asked for, and at once in any fault;
- the offer never exceeds what the controller asked, the charger's rating
  or the cable, and is nothing while the controller is silent or before
  its first heartbeat; the heartbeat deadline is kept to the tick.

Derandomized (the same examples every run): a deterministic gate.
EVSE_HYPOTHESIS_EXAMPLES=2000 runs a longer random search.
"""

import os

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from evse import states as S
from evse import pilot
from evse.external import External, HEARTBEAT_TIMEOUT_MS, asked_a
from hal.sim import FAULTS
from bench import Bench, load_board, pwm_on, TICK_MS

LATCHING = ("RelayWeld", "RelayNoClose", "Epo", "Rcm")
FAULT_CHOICES = tuple(FAULTS) + tuple(f for f in FAULTS if f not in LATCHING) * 2
THEN = st.integers(0, 200)
SETTLED_MS = (pilot.DEBOUNCE_SAMPLES - 1) * TICK_MS
# Duties: X1, F, 5 % (ISO 15118), what EVerest sends for 6..80 A, and anything.
DUTIES = st.one_of(
    st.sampled_from((pilot.PWM_OFF, pilot.PWM_F, 50)),
    st.integers(6, 80).map(lambda a: int((a / 0.6 if a <= 51 else a / 2.5 + 64) * 10 + 0.5)),
    st.integers(0, 1000),
)


class ExternalMachine(RuleBasedStateMachine):
    @initialize(case_b=st.booleans(), ventilation=st.booleans(), rcm=st.booleans(), beat=st.booleans())
    def setup(self, case_b, ventilation, rcm, beat):
        conf = load_board()
        if not rcm:
            del conf["rcm"]
        self.b = b = Bench(board=conf, case_b=case_b, ventilation=ventilation, charge_current_a=32)
        self.x = b.kernel.external = External()
        self.beating = False
        self.last_beat = None
        if beat:
            self._beat()
        self.prev_relay = b.kernel.relay
        self.asking_since = None
        self._note_world()

    # -- the controller -------------------------------------------------------------

    def _beat(self):
        self.x.heartbeat(self.b.now)
        self.last_beat = self.b.elapsed

    @rule(duty=DUTIES, then=THEN)
    def pwm(self, duty, then):
        self.x.duty = duty
        self._advance(then)

    @rule(allow=st.booleans(), then=THEN)
    def allow_power_on(self, allow, then):
        self.x.allow = allow
        self._advance(then)

    @rule(lock=st.booleans(), then=THEN)
    def lock(self, lock, then):
        self.x.lock = lock
        self._advance(then)

    @rule(beating=st.booleans(), then=THEN)
    def heartbeat(self, beating, then):
        """A heartbeat now; then one every 500 ms (beating) or silence."""
        self._beat()
        self.beating = beating
        self._advance(then)

    # -- the world ------------------------------------------------------------------

    def _note_world(self):
        b = self.b
        v = b.board.vehicle.state
        asking = (v == "C" or (v == "D" and b.settings.ventilation)) and not b.board.faults["CpShort"]
        if not asking:
            self.asking_since = None
        elif self.asking_since is None:
            self.asking_since = b.elapsed

    @rule(state=st.sampled_from("ABCD"), then=THEN)
    def vehicle(self, state, then):
        if state != self.b.board.vehicle.state:
            self.asking_since = None  # a new level: read afresh
        self.b.vehicle(state)
        self._note_world()
        self._advance(then)

    @rule(cable=st.sampled_from((13, 20, 32, 63, None)), then=THEN)
    def cable(self, cable, then):
        self.b.vehicle(cable_a=cable)
        self._advance(then)

    @rule(name=st.sampled_from(FAULT_CHOICES), on=st.booleans(), then=THEN)
    def fault(self, name, on, then):
        if name == "CpShort":
            self.asking_since = None
        self.b.fault(name, on)
        self._note_world()
        self._advance(then)

    @rule(c10=st.integers(200, 950), then=THEN)
    def temperature(self, c10, then):
        self.b.temp(c10)
        self._advance(then)

    @rule(amps=st.integers(0, 80), then=THEN)
    def site_limit(self, amps, then):
        self.b.kernel.limit_a = amps
        self._advance(then)

    @rule(ms=st.integers(1, 800))
    def wait(self, ms):
        self._advance(ms)

    # -- time and the checks ----------------------------------------------------------

    def _advance(self, ticks):
        for _ in range(ticks):
            b = self.b
            if self.beating and b.elapsed - self.last_beat >= 500:
                self._beat()
            x = self.x
            # The requests in force for this tick (a silence is judged in it).
            refused = not x.lost and not x.allow
            f_asked = not x.lost and x.duty == pilot.PWM_F
            b.tick()
            self._check(refused, f_asked)

    def _check(self, refused, f_asked):
        b = self.b
        k = b.kernel
        x = self.x
        now = b.elapsed

        # The heartbeat deadline, to the tick.
        silent_ms = None if self.last_beat is None else now - self.last_beat
        if silent_ms is None or silent_ms >= HEARTBEAT_TIMEOUT_MS:
            assert x.lost, silent_ms
        else:
            assert not x.lost, silent_ms

        if k.fault or k.latched:
            assert not k.relay, S.NAMES[k.state]
        # (Unless the silence was judged in this very tick: then the
        # requests are forgotten and the kernel opens on its own timing.)
        if refused and not x.lost:
            assert not k.relay, "closed against allow_power_on = false"
        if f_asked and not x.lost:
            assert not k.relay
            # F as asked, unless a fault or the RCM test (WAITING) decides the CP.
            if not (k.fault or k.latched or k.state == S.WAITING):
                assert k.pwm_permille == pilot.PWM_F

        # The offer.
        if x.lost:
            assert k.offered_a == 0 and not pwm_on(k.pwm_permille), "offer from a silent controller"
        else:
            assert k.offered_a <= asked_a(x.duty), (k.offered_a, x.duty)
        assert k.offered_a <= b.params.max_current_a
        if k.case_b:
            assert k.offered_a <= k.pp_a
        if pwm_on(k.pwm_permille):
            assert k.pwm_permille == pilot.duty_permille(k.offered_a)

        # Every close, against the physical world.
        if k.relay and not self.prev_relay:
            assert x.allow and not x.lost, "closed without allow_power_on"
            assert self.asking_since is not None and now - self.asking_since >= SETTLED_MS, (
                "closed without a settled reading of the vehicle asking",
                self.asking_since,
            )
            assert k.diode_ok and not b.board.faults["DiodeShort"], "closed without the diode"
            assert k.offered_a >= pilot.MIN_CURRENT_A
            assert not k.case_b or k.lock.locked, "closed unlocked"
        self.prev_relay = k.relay


TestExternalControl = ExternalMachine.TestCase
_SEARCH = os.environ.get("EVSE_HYPOTHESIS_EXAMPLES")
TestExternalControl.settings = settings(
    max_examples=int(_SEARCH or "100"),
    derandomize=not _SEARCH,
    stateful_step_count=40,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target),
    suppress_health_check=(HealthCheck.too_slow,),
)
