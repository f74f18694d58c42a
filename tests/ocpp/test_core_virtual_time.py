"""OCPP timers in the simulator's virtual time: the firmware (``evsectl sim
--virtual-time``, the MicroPython unix port) against the real central system
(tests/ocpp/central_system.py), an hour or so of the charger's time in a
minute of ours.

The charge point's timers run on the charger's clock (HeartbeatInterval,
WebSocketPingInterval, MeterValueSampleInterval, ClockAlignedDataInterval,
ConnectionTimeOut), so virtual time moves them exactly: each test advances
time in steps and, after each, waits until the charger has nothing left to
send (GET /sim/v1/Ocpp), then makes the central system ask the charger
something (GetConfiguration) and waits for the answer. Everything the step
made the charger send is then in, in order, before that answer: the
messages are sorted into the step that caused them, and the assertions are
exact, not "about so many".

Each runs the firmware under the MicroPython unix port and under CPython.

The central system's clock follows the virtual time too (behaviour
``clock``), as the charger sets its own from BootNotification's and
Heartbeat's ``currentTime``: a real clock there would pull the charger's
time back at every Heartbeat.
"""

import json
import time
from datetime import datetime

import pytest

from test_core_e2e import central  # noqa: F401 (the fixture: a central system process)
from test_core_e2e import ocpp_charger

T0 = 1767225630  # 2026-01-01T00:00:30Z: the central system's time when the charger boots


def epoch(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def idle(sim, timeout=20):
    """Wait until the charge point is connected with nothing to send and no
    answer awaited."""
    deadline = time.monotonic() + timeout
    while True:
        link = sim.client.ok(sim.client.get("/sim/v1/Ocpp"))
        if link["Connected"] and not link["Busy"]:
            return link
        assert time.monotonic() < deadline, link
        time.sleep(0.02)


class VirtualHour:
    """Steps of virtual time, each followed by a round trip that sorts what
    the charger sent into the step that caused it."""

    def __init__(self, sim, cs):
        self.sim, self.cs = sim, cs
        self.uptime_s = 0  # the charger's virtual uptime (it booted at 0)
        self.steps = []  # [(uptime s at the end of the step, [events the step caused])]

    def clock(self, uptime_s):
        """The central system's clock at the charger's ``uptime_s``."""
        self.cs.send({"behaviour": {"clock": T0 + uptime_s}})
        self.cs.next(lambda e: e.get("behaviour", {}).get("clock") == T0 + uptime_s)

    def sync(self, mark=None):
        """What the charger sent since ``mark`` (an index into the central
        system's ``seen``), up to now: once the charger says it has nothing
        more to send (GET /sim/v1/Ocpp), a round trip brings in all it sent."""
        cs = self.cs
        idle(self.sim)
        cs.drain()
        mark = len(cs.seen) if mark is None else mark
        assert cs.call("GetConfiguration", {"key": ["HeartbeatInterval"]})["result"] is not None
        return [e for e in cs.seen[mark:] if "got" in e or "ping" in e]

    def step(self, seconds, ping=False):
        """Advance ``seconds``; the events it caused. ``ping``: one is due in
        this step (our ping goes within a second of real time after it, when
        the charger's reader looks at its clock: waited for)."""
        self.clock(self.uptime_s + seconds)  # before: what the step sends is answered at its end
        self.cs.drain()
        mark = len(self.cs.seen)
        self.sim.client.advance(seconds * 1000)
        self.uptime_s += seconds
        if ping:
            self.cs.next(lambda e: "ping" in e, 10)
        events = self.sync(mark)
        self.steps.append((self.uptime_s, events))
        return events

    def calls(self, action=None):
        """[(uptime s, payload)] of the charger's CALLs (of ``action``)."""
        return [(t, e["payload"]) for t, events in self.steps for e in events
                if "got" in e and (action is None or e["got"] == action)]


INTERPRETERS = pytest.mark.parametrize("interpreter", ["micropython", "cpython"])


def _booted(sim_factory, cs, interpreter, **settings):
    sim = ocpp_charger(sim_factory, cs, virtual_time=True, interpreter=interpreter, **settings)
    cs.got("BootNotification")
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    return sim


@INTERPRETERS
def test_an_idle_hour_heartbeats_pings_and_clock_aligned_meter_values(sim_factory, central, interpreter):
    cs = central(interval=300, clock=T0)  # HeartbeatInterval 300 s, from the boot's answer
    sim = _booted(sim_factory, cs, interpreter)
    for key, value in (("ClockAlignedDataInterval", "900"),
                       ("MeterValuesAlignedData", "Energy.Active.Import.Register,Voltage")):
        assert cs.call("ChangeConfiguration", {"key": key, "value": value})["result"]["status"] == "Accepted"
    hour = VirtualHour(sim, cs)
    hour.sync()
    for _ in range(60):  # WebSocketPingInterval is 60 s: one ping a step
        hour.step(60, ping=True)
    pings = [t for t, events in hour.steps for e in events if "ping" in e]
    assert pings == list(range(60, 3601, 60))

    # A Heartbeat when nothing else was sent for HeartbeatInterval: never a
    # gap longer, and never one sooner.
    calls = [(0, None)] + hour.calls()
    for (t0, _), (t1, _) in zip(calls, calls[1:]):
        assert t1 - t0 <= 300, calls
    # Every 300 s, but where the clock-aligned MeterValues (below) went instead.
    assert [t for t, _ in hour.calls("Heartbeat")] == [t for t in range(300, 3601, 300) if t % 900], calls

    # Clock-aligned values at 00:15, 00:30, 00:45, 01:00 of the central
    # system's time, outside a transaction: no transactionId, Sample.Clock.
    aligned = hour.calls("MeterValues")
    assert [epoch(p["meter_value"][0]["timestamp"]) for _, p in aligned] == \
        [1767225600 + 900 * n for n in (1, 2, 3, 4)]
    assert [t for t, _ in aligned] == [900, 1800, 2700, 3600]  # sent in the step that crossed it
    for _, p in aligned:
        assert p["connector_id"] == 1 and "transaction_id" not in p
        values = {v["measurand"]: v for v in p["meter_value"][0]["sampled_value"]}
        assert set(values) == {"Energy.Active.Import.Register", "Voltage"}
        assert all(v["context"] == "Sample.Clock" for v in values.values())
        assert (values["Voltage"]["value"], values["Voltage"]["unit"]) == ("230", "V")  # no meter: nominal


@INTERPRETERS
def test_five_minutes_of_charging_sampled_every_minute_with_meter_1(sim_factory, central, interpreter):
    cs = central(interval=3600, clock=T0)
    sim = ocpp_charger(sim_factory, cs, virtual_time=True, interpreter=interpreter)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    # Meter 1 through the simulator's Modbus TCP gateway: an RS485 bus
    # spends its real inter-frame silences on every poll, 300 of them here.
    # The gateway answers in real time, and a busy machine may take longer
    # than the 300 ms MeterTimeoutMs gives it: a reading missed then is one
    # second old in virtual time, and the exact figures below would see it.
    gateway = json.loads((sim.device_dir / "sim.json").read_text())["modbus_gateway"]
    sim.client.config(Meter1Type=4, Meter1Ip=gateway, Meter1PerPhase=True, MeterTimeoutMs=5000)
    for key, value in (("MeterValueSampleInterval", "60"),
                       ("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import,"
                                                  "Current.Import,Current.Offered,Voltage")):
        assert cs.call("ChangeConfiguration", {"key": key, "value": value})["result"]["status"] == "Accepted"
    hour = VirtualHour(sim, cs)
    hour.step(2)  # meter 1 read
    before = sim.client.site()["ChargerImportWh"]
    sim.client.vehicle(State="C")
    hour.step(1)
    start = hour.calls("StartTransaction")[0][1]
    assert abs(start["meter_start"] - before) <= 1  # meter 1's register (to the Wh), not the session's 0
    for _ in range(15):  # (steps of 20 s: the WebAPI answers within 5 s, and meter 1 is polled every 1 s)
        hour.step(20)
    assert [t for t, _ in hour.calls("MeterValues")] == [63, 123, 183, 243, 303]
    energy = []
    for _, p in hour.calls("MeterValues"):
        assert p["transaction_id"] == 1
        values = {v["measurand"]: v for v in p["meter_value"][0]["sampled_value"]}
        assert list(values) == ["Energy.Active.Import.Register", "Power.Active.Import", "Current.Import",
                                "Current.Offered", "Voltage"]  # as MeterValuesSampledData lists them
        assert "context" not in values["Voltage"]  # Sample.Periodic, the default
        assert values["Voltage"]["value"] == "230.0"  # measured: the simulated site's 230 V, to 0.1 V
        assert values["Current.Offered"]["value"] == "16"
        energy.append(int(values["Energy.Active.Import.Register"]["value"]))
        power = int(values["Power.Active.Import"]["value"])
    # The register climbs by what the vehicle draws: a minute at the power
    # measured, give or take a second of it (the register is meter 1's last
    # reading, polled every MeterPollMs, 1 s) and the meter's last Wh.
    steps = [b - a for a, b in zip(energy, energy[1:])]
    assert power > 1000 and all(abs(d - power / 60) <= power / 3600 + 1 for d in steps), (steps, power)
    sim.client.vehicle(State="A")
    hour.step(2)
    stop = hour.calls("StopTransaction")[0][1]
    after = sim.client.site()["ChargerImportWh"]
    assert stop["reason"] == "EVDisconnected" and stop["meter_stop"] >= energy[-1]
    assert sim.client.status()["Meter1Status"] == 0  # no reading missed: the figures above are exact
    # The energy billed is what the site's meter saw the charger draw.
    assert abs((stop["meter_stop"] - start["meter_start"]) - (after - before)) <= 2


@INTERPRETERS
def test_connection_timeout_withdraws_a_remote_start_without_a_vehicle(sim_factory, central, interpreter):
    cs = central(clock=T0)
    sim = _booted(sim_factory, cs, interpreter, ChargeAutoStart=False)
    assert cs.call("ChangeConfiguration", {"key": "ConnectionTimeOut", "value": "30"})["result"]["status"] == \
        "Accepted"
    hour = VirtualHour(sim, cs)
    hour.sync()
    assert cs.call("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1})["result"]["status"] == "Accepted"
    # Authorized, waiting for the vehicle: Preparing (OCPP 1.6, 4.9).
    cs.got("StatusNotification", where=lambda p: p["status"] == "Preparing")
    hour.step(29)
    assert not hour.calls("StatusNotification")
    hour.step(1)  # ConnectionTimeOut: the authorization lapses
    assert [p["status"] for _, p in hour.calls("StatusNotification")] == ["Available"]
    sim.client.vehicle(State="C")
    hour.step(5)
    assert not hour.calls("StartTransaction")  # no authorization left
    assert [p["status"] for _, p in hour.calls("StatusNotification")][-1] == "Preparing"
    # Within the timeout it charges.
    assert cs.call("RemoteStartTransaction", {"idTag": "TAG2", "connectorId": 1})["result"]["status"] == "Accepted"
    hour.step(1)
    assert [p["id_tag"] for _, p in hour.calls("StartTransaction")] == ["TAG2"]
