"""Transactions that survive anything: the firmware (``evsectl sim``, the
MicroPython unix port) killed with SIGKILL at random moments during 50
sessions (one in three charging), the central system down for parts of them. Afterwards the
central system holds exactly one Start and one Stop for every transaction,
readings that never go backwards within one, and no transaction twice.

Delivery is at least once: a CALL whose answer was lost to a kill is sent
again. The central system here does what a real one does with that, as
OCPP 1.6 (4.8, 5.x) leaves it to: a StartTransaction with the same
connector, idTag, timestamp and meterStart as one it has seen gets the same
transactionId, and a second StopTransaction for a transactionId changes
nothing (central_system.py, behaviour "dedupe"). The test counts both.
"""

import os
import random
import signal
import time

from test_core_e2e import central  # noqa: F401 (the fixture: a central system process)
from test_core_e2e import ocpp_charger


def _children(parent):
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/stat" % pid) as f:
                    if int(f.read().rsplit(") ", 1)[1].split()[1]) == parent:
                        found.append(int(pid))
            except OSError:
                pass
    return found


def _kill_firmware(sim):
    """SIGKILL the firmware (a power cut, as far as its flash is concerned);
    its simulator ends with it, and is started again on the same flash."""
    for pid in _children(sim.proc.pid):
        os.kill(pid, signal.SIGKILL)
    sim.proc.wait(10)
    sim.log.close()
    sim.start(timeout=30)


def test_fifty_sessions_through_kills_and_outages_bill_every_transaction_once(sim_factory, central):
    rng = random.Random(1613)
    cs = central(dedupe=True)
    sim = ocpp_charger(sim_factory, cs)
    cs.got("StatusNotification")
    for key, value in (("MeterValueSampleInterval", "1"), ("TransactionMessageRetryInterval", "1"),
                       ("TransactionMessageAttempts", "20")):
        assert cs.call("ChangeConfiguration", {"key": key, "value": value})["result"]["status"] == "Accepted"
    kills = outages = 0
    down = False
    for n in range(50):
        c = sim.client
        # Every session is a transaction (free mode starts it at plug-in);
        # one in three charges. The contactor's wear budget allows a close
        # every 6 s on average: a close per session would make this test
        # wait for the budget rather than test anything.
        charges = n % 3 == 0
        c.vehicle(State="C" if charges else "B")
        deadline = time.monotonic() + 20
        while not (c.board()["RelayClosed"] if charges else c.status()["ChargerStarted"]):
            assert time.monotonic() < deadline, "session %d did not start" % n
            time.sleep(0.05)
        time.sleep(rng.uniform(0.1, 0.6))
        if rng.random() < 0.14:
            _kill_firmware(sim)  # mid-charge (the car stays plugged in: a new transaction follows)
            kills += 1
        if rng.random() < 0.15:
            if down:
                cs = central(port=port, dedupe=True, seen=seen)
            else:
                port, seen = cs.port, cs.seen
                cs.stop()
            down = not down
            outages += 1
        sim.client.vehicle(State="A")
        time.sleep(rng.uniform(0.1, 0.3))
        if rng.random() < 0.08:
            _kill_firmware(sim)  # between sessions, maybe while a Stop is being sent
            kills += 1
    if down:
        cs = central(port=port, dedupe=True, seen=seen)
    # Until the charger has nothing left to send.
    deadline = time.monotonic() + 90
    while True:
        starts, stops = cs.transactions()
        if starts and set(starts) == set(stops) and cs.quiet(3):
            break
        assert time.monotonic() < deadline, "not every transaction stopped: %s %s" % (starts, stops)
    assert kills >= 5 and outages >= 2
    assert len(starts) >= 50
    for tx, start in starts.items():
        stop = stops[tx]
        assert len(stop) == 1 and len(start) == 1, (tx, start, stop)  # after dedupe: exactly one each
        assert stop[0]["meter_stop"] >= start[0]["meter_start"], (tx, start, stop)
        values = cs.meter_values(tx)
        assert values == sorted(values), (tx, values)  # never backwards
        assert all(v <= stop[0]["meter_stop"] for v in values), (tx, values, stop)
    reasons = {s[0]["reason"] for s in stops.values()}
    assert {"EVDisconnected", "PowerLoss"} <= reasons
