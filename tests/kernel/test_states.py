"""EvseState: the WebAPI numbering, every state reached on the bench, and the transitions."""

from evse import states as S
from bench import Bench, pwm_on, is_fault

WEBAPI = (
    (0, "EVSE_WAITING"),
    (1, "EVSE_IDLE_A1_A2"),
    (2, "EVSE_RELAY_ERR_F"),
    (3, "EVSE_EPO_F"),
    (4, "EVSE_EV_CONNECTED_B1_B2"),
    (5, "EVSE_EV_CHARGE_C1_C2"),
    (6, "EVSE_EV_VENT_D1_D2"),
    (7, "EVSE_EV_DIODE_ERR"),
    (8, "EVSE_EV_ERR_E"),
    (9, "EVSE_EV_GENERAL_ERR"),
    (10, "EVSE_PP_ERR_F"),
    (11, "EVSE_LOCK_ERR_F"),
)


def test_numbering_matches_the_webapi():
    assert len(S.NAMES) == 12
    for value, name in WEBAPI:
        assert S.NAMES[value] == name, (value, S.NAMES[value])
    consts = (
        S.WAITING,
        S.IDLE_A,
        S.RELAY_ERR_F,
        S.EPO_F,
        S.CONNECTED_B,
        S.CHARGE_C,
        S.VENT_D,
        S.DIODE_ERR,
        S.EV_ERR_E,
        S.GENERAL_ERR,
        S.PP_ERR_F,
        S.LOCK_ERR_F,
    )
    assert consts == tuple(range(12))


def test_fault_states():
    assert sorted(S.FAULT_STATES) == [
        S.RELAY_ERR_F,
        S.EPO_F,
        S.DIODE_ERR,
        S.EV_ERR_E,
        S.GENERAL_ERR,
        S.PP_ERR_F,
        S.LOCK_ERR_F,
    ]
    for st in (S.WAITING, S.IDLE_A, S.CONNECTED_B, S.CHARGE_C, S.VENT_D):
        assert not is_fault(st)


# Each state, reached from a booted idle bench: (state, settings, actions).
# An action is ("vehicle", state[, cable]) / ("fault", name) / ("run", ms).
SCENARIOS = (
    (S.IDLE_A, {}, ()),
    (S.CONNECTED_B, {}, (("vehicle", "B"),)),
    (S.CHARGE_C, {}, (("vehicle", "B"), ("run", 500), ("vehicle", "C"))),
    (S.VENT_D, {"ventilation": True}, (("vehicle", "B"), ("run", 500), ("vehicle", "D"))),
    (S.RELAY_ERR_F, {}, (("fault", "RelayWeld"),)),
    (S.EPO_F, {}, (("fault", "Epo"),)),
    (S.DIODE_ERR, {}, (("vehicle", "B"), ("fault", "DiodeShort"))),
    (S.EV_ERR_E, {}, (("vehicle", "B"), ("fault", "CpShort"))),
    (S.GENERAL_ERR, {}, (("fault", "Rcm"),)),
    (S.PP_ERR_F, {"case_b": True}, (("vehicle", "B", None),)),
    (S.LOCK_ERR_F, {"case_b": True}, (("fault", "LockJam"), ("vehicle", "B"))),
)


def _play(b, actions):
    for act in actions:
        if act[0] == "vehicle":
            if len(act) > 2:
                b.vehicle(act[1], cable_a=act[2])
            else:
                b.vehicle(act[1])
        elif act[0] == "fault":
            b.fault(act[1])
        else:
            b.run(act[1])


def test_every_state_is_reached():
    reached = [S.WAITING] if Bench(boot=False).state == S.WAITING else []
    for want, settings, actions in SCENARIOS:
        b = Bench(**settings)
        _play(b, actions)
        t = b.until(lambda b: b.state == want, 5000)
        assert t is not None, (S.NAMES[want], S.NAMES[b.state])
        if is_fault(want):
            assert not b.k.relay and b.pwm == 0, S.NAMES[want]
        reached.append(want)
    assert sorted(reached) == list(range(12))


def test_waiting_during_boot():
    b = Bench(boot=False)
    b.vehicle("C")
    seen = []
    b.hook = lambda b: seen.append(b.state)
    b.boot()
    assert seen[0] == S.WAITING
    assert b.state != S.WAITING
    assert not b.relay


def _walk(b, steps):
    """steps: (vehicle state, expected EvseState, relay closed?)

    A new session's first offer may wait for the 5 s duty rule (counted from
    the stop at the last unplug), hence up to 6 s per step.
    """
    for vehicle, state, closed in steps:
        b.vehicle(vehicle)
        t = b.until(lambda b: b.state == state and b.relay == closed, 6000)
        assert t is not None, (vehicle, S.NAMES[state], closed, S.NAMES[b.state], b.relay)
        assert b.stays(lambda b: b.state == state and b.relay == closed, 500), (vehicle, S.NAMES[state])


def test_transitions_between_the_vehicle_states():
    b = Bench()
    _walk(
        b,
        (
            ("B", S.CONNECTED_B, False),
            ("C", S.CHARGE_C, True),
            ("B", S.CONNECTED_B, False),
            ("C", S.CHARGE_C, True),
            ("A", S.IDLE_A, False),
            ("C", S.CHARGE_C, True),  # straight into C
            ("D", S.VENT_D, False),  # no ventilation
            ("C", S.CHARGE_C, True),
            ("B", S.CONNECTED_B, False),
            ("D", S.VENT_D, False),
            ("A", S.IDLE_A, False),
        ),
    )


def test_transitions_with_ventilation():
    b = Bench(ventilation=True)
    _walk(
        b,
        (
            ("B", S.CONNECTED_B, False),
            ("D", S.VENT_D, True),
            ("C", S.CHARGE_C, True),
            ("D", S.VENT_D, True),
            ("B", S.CONNECTED_B, False),
            ("D", S.VENT_D, True),
            ("A", S.IDLE_A, False),
        ),
    )


def test_transitions_in_case_b():
    b = Bench(case_b=True)
    _walk(
        b,
        (
            ("B", S.CONNECTED_B, False),
            ("C", S.CHARGE_C, True),
            ("B", S.CONNECTED_B, False),
            ("C", S.CHARGE_C, True),
            ("A", S.IDLE_A, False),
        ),
    )
    assert b.until(lambda b: not b.board.locked, 1000) is not None


def test_fault_to_running_transitions():
    """Non-latched faults go back to the vehicle's state once their cause is gone."""
    for name, fault_state, settings, clear in (
        ("CpShort", S.EV_ERR_E, {}, "fault"),
        ("OverTemp", S.GENERAL_ERR, {}, "fault"),
        ("PpOpen", S.PP_ERR_F, {"case_b": True}, "fault"),
        ("DiodeShort", S.DIODE_ERR, {}, "unplug"),
        ("LockJam", S.LOCK_ERR_F, {"case_b": True}, "unplug"),
    ):
        b = Bench(**settings)
        if name == "LockJam":
            b.fault(name)
            b.vehicle("C")
        else:
            b.charging()
            b.fault(name)
        assert b.until(lambda b: b.state == fault_state, 5000) is not None, name
        b.fault(name, False)
        if clear == "unplug":
            assert b.stays(lambda b: b.state == fault_state, 2000), name
            b.vehicle("A")
            assert b.until(lambda b: b.state == S.IDLE_A, 3000) is not None, name
            b.vehicle("C")
        assert b.until(lambda b: b.state == S.CHARGE_C and b.relay, 10000) is not None, (name, S.NAMES[b.state])


def test_latched_faults_never_leave():
    for name, fault_state in (("RelayWeld", S.RELAY_ERR_F), ("Epo", S.EPO_F), ("Rcm", S.GENERAL_ERR)):
        b = Bench()
        b.charging()
        b.fault(name)
        b.vehicle("B")
        assert b.until(lambda b: b.state == fault_state, 1000) is not None, name
        b.fault(name, False)
        for v in ("A", "B", "C", "A"):
            b.vehicle(v)
            assert b.stays(lambda b: b.state == fault_state and b.pwm == 0 and not b.k.relay, 2000), (name, v)
        assert b.k.latched == fault_state
        assert not pwm_on(b.pwm)


def test_state_is_always_a_webapi_value():
    b = Bench(boot=False, case_b=True, ventilation=True)
    seen = {}

    def hook(b):
        assert 0 <= b.state <= 11
        seen[b.state] = True

    b.hook = hook
    for v in ("B", "C", "D", "B", "A", "C", "A"):
        b.vehicle(v)
        b.run(1500)
    assert len(seen) >= 5
