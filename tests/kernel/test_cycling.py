"""Contactor wear (issue 20 item 9): a reclose waits RECLOSE_MS after an open,
and a vehicle that keeps toggling between C and B gets a fault (until it is
unplugged) instead of hundreds of contactor operations a minute."""

from evse import states as S
from evse import kernel as K
from bench import Bench, pwm_on


def _count_closes(b):
    closes = []
    last = [b.relay]

    def hook(b):
        if b.relay and not last[0]:
            closes.append(b.elapsed)
        last[0] = b.relay

    return closes, hook


def test_a_vehicle_bouncing_between_c_and_b_is_limited_then_faulted():
    b = Bench()
    b.vehicle("B")
    assert b.until(lambda b: pwm_on(b.pwm), 3000) is not None
    b.run(6000)
    closes, count = _count_closes(b)
    ticks = [0]

    def bounce(b):
        count(b)
        ticks[0] += 1
        if ticks[0] % 10 == 0:  # a new CP state every 100 ms
            b.vehicle("C" if b.board.vehicle.state == "B" else "B")

    b.hook = bounce
    b.run(60000)
    assert len(closes) <= 12, len(closes)
    for earlier, later in zip(closes, closes[1:]):
        assert later - earlier >= K.RECLOSE_MS, (earlier, later)
    assert b.state == S.GENERAL_ERR and b.k.cause == S.CAUSE_CYCLING
    assert S.CAUSES[b.k.cause] == "contactor switched too often"
    b.hook = None
    b.vehicle("A")
    assert b.until(lambda b: b.state == S.IDLE_A, 2000) is not None
    b.vehicle("B")
    b.vehicle("C")
    assert b.until(lambda b: b.relay, 8000) is not None  # a new session starts with a full budget


def test_a_vehicle_pausing_now_and_then_is_never_faulted():
    b = Bench()
    b.vehicle("B")
    assert b.until(lambda b: pwm_on(b.pwm), 3000) is not None
    closes, count = _count_closes(b)
    b.hook = count
    for n in range(30):
        b.vehicle("C")
        b.run(4000)
        b.vehicle("B")
        b.run(2000)
    assert len(closes) == 30
    assert not b.k.fault


def test_a_reclose_waits_after_an_open():
    b = Bench()
    b.charging()
    b.vehicle("B")
    assert b.until(lambda b: not b.relay, 200) is not None
    opened = b.elapsed
    b.vehicle("C")
    assert b.until(lambda b: b.relay, 3000) is not None
    assert K.RECLOSE_MS <= b.elapsed - opened <= K.RECLOSE_MS + 20, b.elapsed - opened
