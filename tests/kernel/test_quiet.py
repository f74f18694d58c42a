"""``kernel.quiet``: "no timer is pending: the outputs only change with the inputs".

The simulator (app/control.py ``advance``) trusts it and steps 1000 ms instead
of 10 ms while it holds, so a pending timer it hides is a decision taken up to
a second late in virtual time.
"""

from evse import states as S
from bench import Bench, COARSE_MS, outputs


class QuietWatch:
    """A bench hook: after a quiet tick, with nothing changed in the world, the
    next tick must leave every output as it was."""

    def __init__(self, b):
        self.prev = None
        self.broken = []
        self.quiet_ticks = 0
        b.hook = self

    def __call__(self, b):
        now = outputs(b.k)
        # b.dirty was cleared by this tick; the world change flag for this tick
        # is what the bench saw before it (kept in self.world_changed).
        if self.prev is not None and self.prev[0] and not self.world_changed and now != self.prev[1]:
            self.broken.append((b.elapsed, self.prev[1], now))
        if b.k.quiet:
            self.quiet_ticks += 1
        self.prev = (b.k.quiet, now)
        self.world_changed = False

    world_changed = False


# Scenarios: (action, argument) pairs played on a booted bench.
def _play(b, actions, watch=None):
    for act, arg in actions:
        if watch is not None:
            watch.world_changed = True
        b.changed()
        if act == "vehicle":
            b.vehicle(arg)
        elif act == "draw":
            b.vehicle(draw_a=arg)
        elif act == "fault":
            b.fault(arg)
        elif act == "clear":
            b.fault(arg, False)
        elif act == "temp":
            b.temp(arg)
        elif act == "limit":
            b.k.limit_a = arg
        elif act == "current":
            b.settings.charge_current_a = arg
        elif act == "toggle":
            b.k.toggle_start()
        elif act == "boost":
            b.k.toggle_boost()
        elif act == "run":
            b.run(arg)


SCENARIOS = (
    ("idle", {}, (("run", 5000),)),
    ("charge", {}, (("vehicle", "B"), ("run", 1000), ("vehicle", "C"), ("run", 10000), ("vehicle", "B"), ("run", 1000), ("vehicle", "A"), ("run", 7000))),
    ("case B", {"case_b": True}, (("vehicle", "B"), ("run", 1000), ("vehicle", "C"), ("run", 5000), ("vehicle", "A"), ("run", 7000))),
    ("vent", {"ventilation": True}, (("vehicle", "D"), ("run", 5000), ("vehicle", "A"), ("run", 1000))),
    ("5 s rule", {}, (("vehicle", "C"), ("run", 1000), ("current", 10), ("run", 7000), ("limit", 20), ("run", 100), ("current", 24), ("run", 7000))),
    ("pwm off in C", {}, (("vehicle", "C"), ("run", 2000), ("toggle", None), ("run", 8000), ("toggle", None), ("run", 7000))),
    ("pause", {}, (("vehicle", "C"), ("run", 2000), ("limit", 3), ("run", 2000), ("vehicle", "B"), ("run", 1000), ("limit", 80), ("run", 7000))),
    ("boost", {}, (("vehicle", "C"), ("run", 2000), ("boost", None), ("run", 7000), ("boost", None), ("run", 7000))),
    ("derate", {}, (("vehicle", "C"), ("run", 7000), ("temp", 700), ("run", 7000), ("temp", 810), ("run", 2000), ("temp", 650), ("run", 7000))),
    ("overcurrent", {}, (("vehicle", "C"), ("run", 2000), ("draw", 25), ("run", 7000), ("vehicle", "A"), ("run", 2000))),
    ("E", {}, (("vehicle", "C"), ("run", 2000), ("fault", "CpShort"), ("run", 2000), ("clear", "CpShort"), ("run", 7000))),
    ("diode", {}, (("vehicle", "C"), ("run", 2000), ("fault", "DiodeShort"), ("run", 2000), ("vehicle", "A"), ("clear", "DiodeShort"), ("run", 2000))),
    ("pp", {"case_b": True}, (("vehicle", "C"), ("run", 2000), ("fault", "PpOpen"), ("run", 2000), ("clear", "PpOpen"), ("run", 7000))),
    ("weld", {}, (("vehicle", "C"), ("run", 2000), ("fault", "RelayWeld"), ("vehicle", "B"), ("run", 3000))),
    ("epo", {}, (("vehicle", "C"), ("run", 2000), ("fault", "Epo"), ("run", 3000))),
)

LOCK_JAM_SCENARIOS = (
    ("jammed while locking", {"case_b": True}, (("fault", "LockJam"), ("vehicle", "B"), ("run", 8000))),
    (
        "jammed while unlocking",
        {"case_b": True},
        (("vehicle", "C"), ("run", 2000), ("vehicle", "B"), ("run", 500), ("fault", "LockJam"), ("vehicle", "A"), ("run", 12000)),
    ),
)


def _broken(scenarios):
    bad = []
    quiet = 0
    for name, settings, actions in scenarios:
        b = Bench(**settings)
        watch = QuietWatch(b)
        _play(b, actions, watch)
        quiet += watch.quiet_ticks
        for t, before, after in watch.broken[:2]:
            bad.append("%s: outputs changed at %d ms after a quiet tick: %r -> %r" % (name, t, before, after))
    return bad, quiet


def test_quiet_means_nothing_pending():
    bad, quiet = _broken(SCENARIOS)
    assert quiet > 1000  # the check had something to check
    assert not bad, "\n".join(bad)


def test_quiet_means_nothing_pending_while_a_jammed_lock_waits_to_retry():
    """The lock re-drives CHECK_MS after a pulse whose feedback disagrees; that is a
    pending timer, so the kernel must not be quiet meanwhile."""
    bad, quiet = _broken(LOCK_JAM_SCENARIOS)
    assert not bad, "\n".join(bad)


def _timeline(settings, actions, coarse):
    b = Bench(**settings)
    b.coarse = coarse
    changes = []
    last = [None]

    def hook(b):
        out = outputs(b.k)
        if out != last[0]:
            changes.append((b.elapsed, out))
            last[0] = out

    b.hook = hook
    _play(b, actions)
    return changes, b.k.session.energy_ws


def test_coarse_steps_while_quiet_give_the_same_timeline():
    """Stepping COARSE_MS while quiet (as the simulator does) changes nothing but speed."""
    assert COARSE_MS == 1000
    for name, settings, actions in SCENARIOS:
        fine, e_fine = _timeline(settings, actions, False)
        coarse, e_coarse = _timeline(settings, actions, True)
        assert fine == coarse, (name, [c for c in coarse if c not in fine][:2], [c for c in fine if c not in coarse][:2])
        assert e_fine == e_coarse, (name, e_fine, e_coarse)


def test_coarse_steps_with_a_jammed_lock_give_the_same_timeline():
    for name, settings, actions in LOCK_JAM_SCENARIOS:
        fine, e_fine = _timeline(settings, actions, False)
        coarse, e_coarse = _timeline(settings, actions, True)
        errors_fine = [t for t, out in fine if out[0] == S.LOCK_ERR_F]
        errors_coarse = [t for t, out in coarse if out[0] == S.LOCK_ERR_F]
        assert errors_fine[:1] == errors_coarse[:1], (name, errors_fine[:1], errors_coarse[:1])
        assert fine == coarse, (name, [c for c in coarse if c not in fine][:2])
