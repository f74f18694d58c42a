"""Session accounting: energy estimated from the offer, duration, clearing at the next plug-in."""

from evse.session import Session
from bench import Bench


def _energy_over(b, ms):
    e0 = b.k.session.energy_ws
    b.run(ms)
    return b.k.session.energy_ws - e0


def test_energy_estimate_is_offer_times_230v_times_phases():
    for three, phases in ((True, 3), (False, 1)):
        for amps in (6, 16, 32):
            b = Bench(three_phase=three, charge_current_a=amps)
            b.charging()
            ws = _energy_over(b, 10000)
            assert ws == amps * 230 * phases * 10, (three, amps, ws)
            assert b.k.session.estimated
            assert b.k.power_w == amps * 230 * phases


def test_energy_over_a_minute_in_wh_and_ws():
    b = Bench(charge_current_a=16)
    b.charging()
    e0 = b.k.session.energy_ws
    b.run(60 * 1000)
    assert b.k.session.energy_ws - e0 == 11040 * 60
    assert b.k.session.energy_wh == b.k.session.energy_ws // 3600


def test_no_energy_while_not_charging():
    b = Bench()
    b.vehicle("B")
    b.run(10000)
    s = b.k.session
    assert s.active and s.energy_ws == 0
    assert 9 <= s.duration_s <= 10  # the session runs from the plug-in (classified 30 ms later)
    assert b.k.power_w == 0


def test_duration_and_energy_kept_after_unplug_cleared_at_next_plug_in():
    b = Bench()
    b.charging()
    b.run(20000)
    b.vehicle("B")
    b.run(100)
    b.vehicle("A")
    b.run(100)
    s = b.k.session
    assert not s.active
    energy = s.energy_ws
    duration = s.duration_s
    assert energy > 20 * 11040 and duration >= 20
    b.run(60000)
    assert s.energy_ws == energy and s.duration_s == duration  # frozen, still readable
    b.vehicle("B")
    b.run(100)
    assert b.k.session.active
    assert b.k.session.energy_ws == 0 and b.k.session.duration_s == 0
    assert b.k.session.estimated


def test_energy_follows_offer_changes():
    b = Bench(charge_current_a=16)
    b.charging()
    b.run(6000)
    e = _energy_over(b, 1000)
    assert e == 11040
    b.k.limit_a = 10
    b.tick()
    e = _energy_over(b, 1000)
    assert e == 10 * 230 * 3


def test_session_accrue_exact_integers():
    s = Session()
    assert s.estimated and not s.active and s.energy_ws == 0
    # 1 W for 3600 s in 1 ms steps would be slow; 3600 W in 1 ms steps for 1 s = 1 Wh.
    for _ in range(1000):
        s.accrue(1, 3600, True)
    assert s.energy_wh == 1 and s.energy_ws == 3600
    assert s.duration_s == 1
    # Fractions carry over: 1 W for 999 ms is 0 Ws, one more ms makes 1 Ws.
    s.clear()
    s.accrue(999, 1, True)
    assert s.energy_ws == 0 and s.duration_s == 0
    s.accrue(1, 1, True)
    assert s.energy_ws == 1 and s.duration_s == 1
    # Not running: duration only.
    s.accrue(5000, 11040, False)
    assert s.energy_ws == 1 and s.duration_s == 6
    # Large powers and steps stay exact.
    s.clear()
    s.accrue(1000, 80 * 230 * 3, True)
    assert s.energy_ws == 55200


# -- the charger's meter settles the energy ------------------------------------


def _metered(b, import_wh):
    """A bench charging at 16 A x 3 whose meter has reported ``import_wh``."""
    b.k.session.meter_report(import_wh)
    b.charging()
    return b.k.session


def test_meter_reports_replace_the_estimate_in_between():
    b = Bench(charge_current_a=16)
    s = _metered(b, 1000)
    b.run(10000)  # estimated: 11040 W for a little over 10 s
    assert s.energy_ws > 110400
    s.meter_report(1000 + 25)  # the meter says 25 Wh = 90000 Ws went through since its last report
    assert s.energy_ws == 90000
    assert not s.estimated


def test_meter_dropout_is_estimated_then_settled_exactly_once():
    b = Bench(charge_current_a=16)
    s = _metered(b, 5000)
    e0 = s.energy_ws
    b.k.inputs.power_w = 10000  # the meter's power, while it answers
    b.run(1000)
    b.k.inputs.power_w = -1  # the meter drops out: back to the offer (11040 W)
    b.run(60 * 1000)
    assert s.energy_ws - e0 == 10000 + 11040 * 60
    s.meter_report(5000 + 180)  # back: 180 Wh since its last report, before the session began
    assert s.energy_ws == 180 * 3600
    s.meter_report(5000 + 180)  # the same reading again adds nothing
    assert s.energy_ws == 180 * 3600


def test_a_reset_or_replaced_meter_keeps_the_energy_so_far():
    b = Bench(charge_current_a=16)
    s = _metered(b, 5000)
    b.run(10000)
    before = s.energy_ws
    s.meter_report(3)  # counter went backwards: a new meter
    assert s.energy_ws == before
    b.run(1000)
    s.meter_report(3 + 3)
    assert s.energy_ws == before + 3 * 3600


def test_meter_reading_from_before_the_session_is_the_baseline():
    b = Bench(charge_current_a=16)
    b.k.session.meter_report(7000)  # idle, before the vehicle arrives
    b.charging()
    b.run(5000)
    b.k.session.meter_report(7010)
    assert b.k.session.energy_ws == 10 * 3600
