"""Transactions that survive anything: the firmware (``evsectl sim``, the
MicroPython unix port) killed with SIGKILL at random moments (seeded) during
50 sessions (one in three charging, some stopped remotely), the central
system down for parts of them. The kills are aimed at every phase: while a
StartTransaction is on its way, mid-charge, while a StopTransaction is on its
way, between sessions, while the central system is down. Afterwards the
central system holds exactly one Start and one Stop for every transaction
(one cut by a kill stopped after the restart, PowerLoss), readings that never
go backwards, the energy meter 1 counted, and nothing twice.

Delivery is at least once: a CALL whose answer was lost to a kill is sent
again. The central system here does what a real one does with that, as
OCPP 1.6 (4.8, 5.x) leaves it to: a StartTransaction with the same
connector, idTag, timestamp and meterStart as one it has seen gets the same
transactionId, and a second StopTransaction for a transactionId changes
nothing (central_system.py, behaviour "dedupe"). But only a CALL whose
answer can have been lost may come again: the charge point sends one CALL
at a time and records an answer before it sends anything else, so a resend
is legitimate only when the first copy was the last CALL its connection
carried (the link, or the charger, died before the answer was recorded).
Anything else sent twice fails the test.

Meter 1 is the simulator's meter (Meter1Type 1), with 1000 kWh on its
register at the start: meterStart, meterStop and the readings are its
register, so they never go backwards across transactions either, and every
transaction's energy is checked against what that meter counted (see
_check_energy for the tolerance).
"""

import json
import os
import random
import signal
import time

from processes import children
from test_core_e2e import central  # noqa: F401 (the fixture: a central system process)
from test_core_e2e import ocpp_charger


def _kill_firmware(sim):
    """SIGKILL the firmware (a power cut, as far as its flash is concerned);
    its simulator ends with it, and is started again on the same flash."""
    for pid in children(sim.proc.pid):
        os.kill(pid, signal.SIGKILL)
    sim.proc.wait(10)
    sim.log.close()
    sim.start(timeout=30)


KILL_PHASES = ("start", "charging", "stop", "between", "offline")
START_WH = 1000000  # on meter 1's register before the first session


def _site_wh(sim):
    """Meter 1's register as the simulator counts it (its truth)."""
    return sim.client.ok(sim.client.get("/sim/v1/Site"))["ChargerImportWh"]


def _wait(what, condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_fifty_sessions_through_kills_and_outages_bill_every_transaction_once(sim_factory, central, tmp_path):
    rng = random.Random(1613)
    cs = central(dedupe=True)
    # The simulator's state from before: no vehicle, meter 1 at START_WH (sim_factory's first device is dev0).
    (tmp_path / "dev0.vehicle.json").write_text(json.dumps({
        "Vehicle": {"State": "A", "CableA": 32, "DrawA": 16, "Phases": 1}, "Faults": {},
        "Site": {"EnergyWh": [START_WH, START_WH]}}))
    sim = ocpp_charger(sim_factory, cs, Meter1Type=1, MeterPollMs=500)
    cs.got("StatusNotification")
    for key, value in (("MeterValueSampleInterval", "1"), ("TransactionMessageRetryInterval", "1"),
                       ("TransactionMessageAttempts", "20")):
        assert cs.call("ChangeConfiguration", {"key": key, "value": value})["result"]["status"] == "Accepted"
    kills = dict.fromkeys(KILL_PHASES, 0)
    outages = remote_stops = 0
    down = False
    port = seen = None  # of the central system while it is down
    sessions = []  # (meter 1's register before, after) each session, the vehicle away both times

    def kill(phase):
        _kill_firmware(sim)
        kills["offline" if down else phase] += 1

    for n in range(50):
        before = _site_wh(sim)
        # Every session is a transaction (free mode starts it at plug-in);
        # one in three charges. The contactor's wear budget allows a close
        # every 6 s on average: a close per session would make this test
        # wait for the budget rather than test anything.
        charges = n % 3 == 0
        sim.client.vehicle(State="C" if charges else "B")
        if not down and rng.random() < 0.1:
            cs.got("StartTransaction", timeout=20)  # its answer on the way back, or not yet recorded
            kill("start")
        _wait("session %d did not start" % n,
              lambda: sim.client.board()["RelayClosed"] if charges else sim.client.status()["ChargerStarted"])
        time.sleep(rng.uniform(0.1, 0.6))
        if rng.random() < 0.12:
            kill("charging")  # the car stays plugged in: a new transaction follows
        if rng.random() < 0.15:
            if down:
                cs = central(port=port, dedupe=True, seen=seen)
            else:
                port, seen = cs.port, cs.seen
                cs.stop()
            down = not down
            outages += 1
        if not down and rng.random() < 0.12:
            # Stopped from the central system: its latest transaction, if the
            # charger has its id yet (else Rejected, and the car ends it).
            cs.drain()
            started = [e["tx"] for e in cs.seen if e.get("got") == "StartTransaction"]
            answer = cs.call("RemoteStopTransaction", {"transactionId": started[-1]})["result"]
            remote_stops += answer is not None and answer["status"] == "Accepted"
        cs.drain()
        stopping = len(cs.calls("StopTransaction"))
        sim.client.vehicle(State="A")
        if not down and rng.random() < 0.1:
            cs.next(lambda e: e.get("got") == "StopTransaction" and len(cs.calls("StopTransaction")) > stopping, 20)
            kill("stop")
        time.sleep(rng.uniform(0.1, 0.3))
        if rng.random() < 0.08:
            kill("between")  # maybe while a Stop or a MeterValues is being sent
        _wait("relay still closed", lambda: not sim.client.board()["RelayClosed"])
        sessions.append((before, _site_wh(sim)))
    if down:
        cs = central(port=port, dedupe=True, seen=seen)
    # Until the charger has nothing left to send.
    deadline = time.monotonic() + 90
    while True:
        starts, stops = cs.transactions()
        if starts and set(starts) == set(stops) and cs.quiet(3):
            break
        assert time.monotonic() < deadline, "transactions not stopped: %s; stops of none: %s" % (
            [starts[tx] for tx in set(starts) - set(stops)], [stops[tx] for tx in set(stops) - set(starts)])
    assert all(kills.values()) and outages >= 2 and remote_stops >= 1, (kills, outages, remote_stops)
    assert len(starts) >= 50
    _check_resends(cs.seen)
    previous_stop = START_WH
    for tx in sorted(starts):  # transactionIds are given in the order the charger started them
        start, stop = starts[tx], stops[tx]
        assert len(stop) == 1 and len(start) == 1, (tx, start, stop)  # after dedupe: exactly one each
        start, stop = start[0]["meter_start"], stop[0]["meter_stop"]
        values = cs.meter_values(tx)
        # Never backwards: within a transaction, and from one to the next.
        assert previous_stop <= start <= stop and values == sorted(values), (tx, previous_stop, start, values, stop)
        assert all(start <= v <= stop for v in values), (tx, start, values, stop)
        previous_stop = stop
    reasons = {s[0]["reason"] for s in stops.values()}
    assert {"EVDisconnected", "PowerLoss", "Remote"} <= reasons
    _check_energy(sessions, starts, stops)


def _check_resends(seen):
    """A Start or Stop the central system got twice was legitimately sent
    again only if its first copy was the last CALL of its connection."""
    first = {}  # message key -> index of the connection it came on, and whether it was that connection's last CALL
    connection = 0
    last_key = None
    for e in seen:
        if "connected" in e or "listening" in e:  # a new connection (or a central system back up)
            connection += 1
            last_key = None
            continue
        action = e.get("got")
        if action is None:
            continue
        if last_key is not None:
            first[last_key][1] = False  # something followed it on its connection: its answer was recorded
            last_key = None
        if action not in ("StartTransaction", "StopTransaction"):
            continue
        p = e["payload"]
        key = (action, p.get("connector_id"), p["id_tag"], p["timestamp"], p["meter_start"]) \
            if action == "StartTransaction" else (action, p["transaction_id"])
        if key in first:
            on, was_last = first[key]
            assert was_last and on < connection, "%s sent again though its answer was recorded: %s" % (action, p)
        first[key] = [connection, True]
        last_key = key


def _check_energy(sessions, starts, stops):
    """Each transaction's energy is what meter 1 counted in its session.

    The charger knows meter 1's register from its last poll (MeterPollMs,
    500 ms here): that is what meterStart and meterStop are. So every
    transaction lies within one session's register (read before plug-in and
    after unplug, the contactor open and the meter still): exact, but for
    1 Wh of rounding. And the transactions of a session bill all that the
    meter counted but for what flowed after their last reading, or before
    their first: at a stop up to a poll (500 ms) before the contactor
    opened; at a kill (PowerLoss) the last sample (every 1 s) and the poll it
    took, 1.5 s; after the restart, until the first poll of the meter. At
    the 16 A on one phase the vehicle draws (3.7 kW, 1 Wh a second) that is
    at most 3 Wh a transaction, rounding included: the bound.
    """
    txs = [(starts[tx][0]["meter_start"], stops[tx][0]["meter_stop"]) for tx in sorted(starts)]
    for a, b in txs:
        assert any(before - 1 <= a <= b <= after + 1 for before, after in sessions), (a, b, sessions)
    for before, after in sessions:
        inside = [(a, b) for a, b in txs if before - 1 <= a < b <= after + 1]
        billed = sum(b - a for a, b in inside)
        assert after - before - 3 * max(1, len(inside)) <= billed, (before, after, inside)


def test_a_transaction_that_starts_before_meter_1_is_read_bills_its_register(sim_factory, central, tmp_path):
    """After a power cut the vehicle, still plugged in, starts a transaction
    at once, before meter 1 has been polled: its Start waits for the
    meter's first reading (it once had the estimate, 0, for meterStart and
    the register for meterStop)."""
    cs = central()
    (tmp_path / "dev0.vehicle.json").write_text(json.dumps({
        "Vehicle": {"State": "C", "CableA": 32, "DrawA": 16, "Phases": 1}, "Faults": {},
        "Site": {"EnergyWh": [START_WH, START_WH]}}))
    sim = ocpp_charger(sim_factory, cs, Meter1Type=1, MeterPollMs=2000)
    start = cs.got("StartTransaction")["payload"]
    assert START_WH <= start["meter_start"] <= START_WH + 5, start
    sim.client.vehicle(State="A")
    stop = cs.got("StopTransaction")["payload"]
    assert start["meter_start"] <= stop["meter_stop"] <= _site_wh(sim) + 1, (start, stop)


def test_a_meter_that_stops_answering_leaves_the_register_where_it_was(sim_factory, central, tmp_path):
    """Meter 1 dead after a power cut (asked at a unit no meter has), past
    MeterStaleS: the transaction goes on the estimate, counted on from the
    last register recorded (kept on flash across the cut), not from 0. Its
    meterStart was once 0 after a meterStop of a million Wh: a register that
    went back."""
    cs = central()
    (tmp_path / "dev0.vehicle.json").write_text(json.dumps({
        "Vehicle": {"State": "A", "CableA": 32, "DrawA": 16, "Phases": 1}, "Faults": {},
        "Site": {"EnergyWh": [START_WH, START_WH]}}))
    sim = ocpp_charger(sim_factory, cs, Meter1Type=1, MeterPollMs=500, MeterStaleS=2)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    sim.client.vehicle(State="C")
    assert cs.got("StartTransaction")["payload"]["meter_start"] >= START_WH
    _wait("no charging", lambda: sim.client.board()["RelayClosed"])
    time.sleep(2)
    sim.client.vehicle(State="A")
    first = cs.got("StopTransaction")["payload"]
    sim.client.config(Meter1Unit=99)
    _kill_firmware(sim)
    sim.client.vehicle(State="C")
    start = cs.got("StartTransaction")["payload"]
    assert start["meter_start"] == first["meter_stop"], (first, start)
    _wait("no charging", lambda: sim.client.board()["RelayClosed"])
    time.sleep(2)
    sim.client.vehicle(State="A")
    stop = cs.got("StopTransaction")["payload"]
    assert stop["meter_stop"] > start["meter_start"], (start, stop)  # the estimate of 16 A for 2 s and more


def test_a_start_sent_again_after_a_restart_carries_the_time_it_had(sim_factory, central):
    """A StartTransaction made before the charger knew the time (the central
    system down since power-up) is dated when it is sent; its answer lost to a
    power cut, it is sent again after the restart with the same time, so that
    the central system recognises it (it was dated anew, and a deduplicating
    central system opened a second transaction that was never stopped)."""
    cs = central()
    port = cs.port
    cs.stop()  # down from the charger's power-up: it never learns the time
    sim = ocpp_charger(sim_factory, cs)
    sim.client.vehicle(State="B")
    _wait("no transaction", lambda: sim.client.status()["ChargerStarted"])
    cs = central(port=port, dedupe=True, silent=["StartTransaction"])  # its answer never comes
    first = cs.got("StartTransaction")["payload"]
    _kill_firmware(sim)
    again = cs.got("StartTransaction")["payload"]  # after the restart: the journal, oldest first
    assert again == first


def test_no_energy_flows_before_its_start_is_on_flash(sim_factory, central, tmp_path):
    """The contactor closes only once the transaction's Start is journalled,
    so a power cut at the moment it closes leaves that Start on flash: it is
    sent and stopped (PowerLoss) after the restart. The Start waits here
    MeterStaleS (4 s) for meter 1, which never answers (no meter at unit
    99). The vehicle once charged meanwhile, and a cut then lost the
    transaction and its energy."""
    cs = central()
    (tmp_path / "dev0.vehicle.json").write_text(json.dumps({
        "Vehicle": {"State": "C", "CableA": 32, "DrawA": 16, "Phases": 1}, "Faults": {}}))
    sim = ocpp_charger(sim_factory, cs, Meter1Type=1, Meter1Unit=99, MeterStaleS=4)
    _wait("the contactor never closed", lambda: sim.client.board()["RelayClosed"], timeout=30)
    _kill_firmware(sim)
    stop = cs.got("StopTransaction", where=lambda p: p["reason"] == "PowerLoss")["payload"]
    starts = {e["tx"]: e["payload"] for e in cs.seen if e.get("got") == "StartTransaction"}
    assert stop["transaction_id"] in starts, (stop, starts)
