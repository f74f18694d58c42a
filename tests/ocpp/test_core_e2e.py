"""OCPP 1.6J Core, end to end: the real firmware under the MicroPython unix
port (``evsectl sim``) against a real central system (the ``ocpp`` package
over ``websockets``, tests/ocpp/central_system.py, in its own process),
on loopback. Test names follow the OCA 1.6 test cases where one exists
(TC_xxx)."""

import json
import os
import queue
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from simclient import free_port  # noqa: E402


class Central:
    """The central system process, and what it saw."""

    def __init__(self, behaviour=None, port=None, seen=None):
        self.port = port or free_port()
        self.seen = [] if seen is None else seen  # kept across a restart of the central system
        behaviour = dict(behaviour or {})
        if seen:
            starts = [e for e in seen if e.get("got") == "StartTransaction"]
            behaviour["known"] = {json.dumps([e["payload"].get("connector_id"), e["payload"]["id_tag"],
                                              e["payload"].get("timestamp"), e["payload"].get("meter_start")]):
                                  e["tx"] for e in starts}
            behaviour["next_tx"] = max([e["tx"] for e in starts] or [0])
        # Without firmware/ on the path, `ocpp` is the package from PyPI.
        env = dict(os.environ, PYTHONPATH="")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "central_system.py"), str(self.port),
                                      json.dumps(behaviour or {})], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env, cwd=HERE)
        self.events = queue.Queue()
        self.last_ms = time.monotonic()
        threading.Thread(target=self._pump, daemon=True).start()
        assert self.next(lambda e: "listening" in e, 20)

    def _pump(self):
        for line in self.proc.stdout:
            self.events.put(json.loads(line))
            self.last_ms = time.monotonic()

    def drain(self):
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                return

    def quiet(self, seconds):
        """Nothing heard for ``seconds`` (waits a little)."""
        time.sleep(0.5)
        self.drain()
        return time.monotonic() - self.last_ms >= seconds

    def transactions(self):
        """({transactionId: [distinct Start payloads]}, {transactionId: [distinct Stop payloads]})."""
        self.drain()
        starts, stops = {}, {}
        for e in self.seen:
            if e.get("got") == "StartTransaction":
                group = starts.setdefault(e["tx"], [])
            elif e.get("got") == "StopTransaction":
                group = stops.setdefault(e["payload"]["transaction_id"], [])
            else:
                continue
            if e["payload"] not in group:  # the same message again is a resend, not a second one
                group.append(e["payload"])
        return starts, stops

    def meter_values(self, tx):
        """The energy register's readings of transaction ``tx``, in the order received."""
        self.drain()
        return [int(v["value"]) for e in self.seen if e.get("got") == "MeterValues"
                and e["payload"]["transaction_id"] == tx for mv in e["payload"]["meter_value"]
                for v in mv["sampled_value"] if v.get("measurand", "Energy.Active.Import.Register")
                == "Energy.Active.Import.Register"]

    backlog = ()  # events a call() passed over while it waited for its result

    def next(self, match, timeout=30, keep=False):
        """The next event that ``match`` takes (all seen are kept in ``seen``).
        Events passed over are dropped, or with ``keep`` left for the next
        call to look at first: what the charge point sent while we waited
        for its answer may reach us before the answer (both in one read)."""
        while self.backlog and not keep:
            e, self.backlog = self.backlog[0], self.backlog[1:]
            if match(e):
                return e
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("central system: nothing matching; seen %s" % self.seen[-20:])
            try:
                e = self.events.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(e)
            if match(e):
                return e
            if keep:
                self.backlog += (e,)

    def got(self, action, timeout=30, where=None):
        return self.next(lambda e: e.get("got") == action and (where is None or where(e["payload"])), timeout)

    def calls(self, action):
        return [e["payload"] for e in self.seen if e.get("got") == action]

    _ref = 0

    def call(self, action, payload, timeout=30, unchecked=False):
        """Send a CALL; its "result" event (None and an "error" for a
        CALLERROR or no answer). ``unchecked``: past the OCPP schema."""
        Central._ref += 1
        ref = Central._ref
        self.send({"call": action, "payload": payload, "ref": ref, "unchecked": unchecked})
        return self.next(lambda e: "result" in e and e.get("ref") == ref, timeout, keep=True)

    def send(self, cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        time.sleep(0.1)  # the pump's last lines
        self.drain()  # all it heard, for the one that follows it


@pytest.fixture
def central():
    made = []

    def make(port=None, seen=None, **behaviour):
        c = Central(behaviour, port, seen)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()
    # Every CALL of the charger passed the OCPP 1.6 schemas (the ocpp package checks them).
    invalid = [e for c in made for e in c.seen if "invalid" in e]
    assert not invalid, invalid


def ocpp_charger(sim_factory, central, virtual_time=False, interpreter="micropython", **settings):
    """A simulated charger (real time, or virtual; the firmware under the
    MicroPython unix port, or CPython) configured earlier to connect to
    ``central`` (the WebAPI way, with its restart, is
    test_security_profile_1...), retrying a lost link within a second."""
    config = dict(OcppEndpoint="ws://127.0.0.1:%d/ocpp" % central.port, OcppBoxId="CP1", OcppSecurityProfile=0)
    config.update(settings)
    return sim_factory(virtual_time=virtual_time, interpreter=interpreter, files={"config.json": config,
                       "ocpp.json": dict(RetryBackoffWaitMinimum=1, RetryBackoffRandomRange=0)})


def test_tc_001_cold_boot_pending_then_accepted(sim_factory, central):
    cs = central(boot=["Pending", "Accepted"], interval=2)
    ocpp_charger(sim_factory, cs)
    first = cs.got("BootNotification")
    assert first["payload"]["charge_point_vendor"] and first["payload"]["firmware_version"]
    cs.got("BootNotification", timeout=15)  # again after the interval the Pending answer gave
    status = cs.got("StatusNotification")["payload"]
    assert (status["connector_id"], status["status"], status["error_code"]) == (1, "Available", "NoError")
    assert cs.calls("BootNotification") and len(cs.calls("BootNotification")) == 2


def test_tc_003_plug_and_charge_in_free_mode(sim_factory, central):
    cs = central()
    s = ocpp_charger(sim_factory, cs)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    s.client.vehicle(State="C")
    start = cs.got("StartTransaction")["payload"]
    assert start["connector_id"] == 1 and start["meter_start"] >= 0
    cs.got("StatusNotification", where=lambda p: p["status"] == "Charging")
    time.sleep(2)
    s.client.vehicle(State="A")
    stop = cs.got("StopTransaction")["payload"]
    assert stop["transaction_id"] == 1 and stop["reason"] == "EVDisconnected"
    assert stop["meter_stop"] >= start["meter_start"]
    end = stop["transaction_data"][0]["sampled_value"][0]
    assert (end["value"], end["context"], end["unit"]) == (str(stop["meter_stop"]), "Transaction.End", "Wh")
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")


def test_tc_010_remote_start_and_tc_012_remote_stop(sim_factory, central):
    cs = central()
    s = ocpp_charger(sim_factory, cs, ChargeAutoStart=False)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    s.client.vehicle(State="B")
    cs.got("StatusNotification", where=lambda p: p["status"] == "Preparing")
    assert not cs.calls("StartTransaction")
    answer = cs.call("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1})
    assert answer["result"]["status"] == "Accepted"
    start = cs.got("StartTransaction")["payload"]
    assert start["id_tag"] == "TAG1"
    s.client.vehicle(State="C")
    cs.got("StatusNotification", where=lambda p: p["status"] == "Charging")
    assert cs.call("RemoteStopTransaction", {"transactionId": 99})["result"]["status"] == "Rejected"
    assert cs.call("RemoteStopTransaction", {"transactionId": 1})["result"]["status"] == "Accepted"
    stop = cs.got("StopTransaction")["payload"]
    assert (stop["transaction_id"], stop["reason"]) == (1, "Remote")
    assert not s.client.board()["RelayClosed"]


def test_configuration_keys_are_read_and_written(sim_factory, central):
    cs = central()
    ocpp_charger(sim_factory, cs)
    cs.got("StatusNotification")
    everything = cs.call("GetConfiguration", {})["result"]
    keys = {k["key"]: k for k in everything["configuration_key"]}
    assert keys["HeartbeatInterval"]["readonly"] is False and "NumberOfConnectors" in keys
    answer = cs.call("GetConfiguration", {"key": ["MeterValueSampleInterval", "NoSuchKey"]})["result"]
    assert answer["unknown_key"] == ["NoSuchKey"]
    assert cs.call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "30"})["result"]["status"] == \
        "Accepted"
    assert cs.call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "soon"})["result"]["status"] == \
        "Rejected"
    assert cs.call("ChangeConfiguration", {"key": "NoSuchKey", "value": "1"})["result"]["status"] == "NotSupported"
    answer = cs.call("GetConfiguration", {"key": ["MeterValueSampleInterval"]})["result"]
    assert answer["configuration_key"][0]["value"] == "30"
    # A vendor key backed by a setting changes the setting, as the WebAPI would.
    assert cs.call("ChangeConfiguration", {"key": "MaxCurrentLimit", "value": "10"})["result"]["status"] == "Accepted"


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
def test_a_central_system_that_answers_with_callerror_or_not_at_all(sim_factory, central, interpreter):
    """A CALLERROR to a StatusNotification or a Heartbeat is logged and not
    repeated, and costs neither the link nor the charging; a transaction
    message that gets no answer within 30 s is sent again
    TransactionMessageRetryInterval later, the same message."""
    cs = central(callerror=["StatusNotification", "Heartbeat"], interval=2)
    s = ocpp_charger(sim_factory, cs, interpreter=interpreter)
    cs.got("StatusNotification")  # refused, as every one is
    assert cs.call("ChangeConfiguration", {"key": "TransactionMessageRetryInterval", "value": "1"}
                   )["result"]["status"] == "Accepted"
    cs.send({"behaviour": {"silent": ["StartTransaction"]}})
    cs.next(lambda e: "behaviour" in e)
    s.client.vehicle(State="C")  # charging goes on whatever the central system does
    first = cs.got("StartTransaction")["payload"]  # never answered
    deadline = time.monotonic() + 10
    while not s.client.board()["RelayClosed"]:
        assert time.monotonic() < deadline, s.client.board()
        time.sleep(0.2)
    cs.send({"behaviour": {"silent": []}})
    # No answer within 30 s: the same Start again, TransactionMessageRetryInterval later.
    again = cs.got("StartTransaction", timeout=45)
    assert again["payload"] == first
    cs.got("StatusNotification", where=lambda p: p["status"] == "Charging")
    assert s.client.board()["RelayClosed"]
    s.client.vehicle(State="A")
    stop = cs.got("StopTransaction")["payload"]
    # The id the answered Start gave (this central system does not take a resend for the same one).
    assert stop["transaction_id"] == again["tx"] and stop["reason"] == "EVDisconnected"
    cs.got("Heartbeat", timeout=10)
    cs.got("Heartbeat", timeout=10)  # refused, and the next one comes at the interval
    out = s.output()
    assert "ocpp: StatusNotification Charging refused" in out and "ocpp: Heartbeat refused" in out
    assert len([e for e in cs.seen if "connected" in e]) == 1  # neither a refusal nor a silence cost the link
    assert len(cs.calls("StartTransaction")) == 2


@pytest.mark.parametrize("kind", ["Hard", "Soft"])
def test_tc_015_hard_and_tc_016_soft_reset_in_a_transaction_stop_it_first(sim_factory, central, kind):
    cs = central()
    s = ocpp_charger(sim_factory, cs)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    s.client.vehicle(State="C")
    cs.got("StatusNotification", where=lambda p: p["status"] == "Charging")
    assert cs.call("Reset", {"type": kind})["result"]["status"] == "Accepted"
    stop = cs.got("StopTransaction")["payload"]
    assert (stop["transaction_id"], stop["reason"]) == (1, kind + "Reset")
    cs.got("BootNotification")  # the charger restarted
    # The car is still there and charging is free: a new transaction, once.
    start = cs.got("StartTransaction")["payload"]
    cs.got("StatusNotification", where=lambda p: p["status"] == "Charging")
    assert len(cs.calls("StopTransaction")) == 1 and start["connector_id"] == 1


def test_a_transaction_cut_by_a_restart_is_stopped_when_the_charger_is_back(sim_factory, central):
    cs = central()
    s = ocpp_charger(sim_factory, cs)
    s.client.vehicle(State="C")
    cs.got("StatusNotification", where=lambda p: p["status"] == "Charging")
    # The WebAPI's Reset, as a power cycle: nobody tells OCPP.
    s.client.ok(s.client.post("/webapi/v1/SystemInfo", {"SCode": "Reset"}))
    cs.got("BootNotification")
    stop = cs.got("StopTransaction")["payload"]
    assert (stop["transaction_id"], stop["reason"]) == (1, "PowerLoss")
    assert cs.got("StartTransaction")  # the car is still there: charging is free


def test_unlock_connector_availability_cache_and_data_transfer(sim_factory, central):
    cs = central()
    s = ocpp_charger(sim_factory, cs)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    assert cs.call("ClearCache", {})["result"]["status"] == "Accepted"
    assert cs.call("DataTransfer", {"vendorId": "x"})["result"]["status"] == "UnknownVendorId"
    # A fixed cable (ChargerMode 0) has no lock to release.
    assert cs.call("UnlockConnector", {"connectorId": 1})["result"]["status"] == "NotSupported"
    assert cs.call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})["result"]["status"] == "Accepted"
    cs.got("StatusNotification", where=lambda p: p["status"] == "Unavailable")
    s.client.vehicle(State="C")
    time.sleep(2)
    assert not s.client.board()["RelayClosed"] and not cs.calls("StartTransaction")
    assert cs.call("ChangeAvailability", {"connectorId": 1, "type": "Operative"})["result"]["status"] == "Accepted"
    cs.got("StartTransaction")
    # Inoperative while a transaction runs: Scheduled, and applied when it ends.
    cs.got("StatusNotification", where=lambda p: p["status"] == "Charging")
    assert cs.call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})["result"]["status"] == "Scheduled"
    s.client.vehicle(State="A")
    cs.got("StopTransaction")
    cs.got("StatusNotification", where=lambda p: p["status"] == "Unavailable")


def test_tc_018_1_unlock_connector_in_a_transaction_stops_it_and_releases_the_plug(sim_factory, central):
    cs = central()
    s = ocpp_charger(sim_factory, cs, ChargerMode=1)  # a socket, with a plug lock
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    s.client.vehicle(State="C", CableA=32)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Charging")
    assert s.client.board()["Locked"]
    # There is no connector 2: nothing to unlock there, and the transaction goes on.
    assert cs.call("UnlockConnector", {"connectorId": 2})["result"]["status"] == "NotSupported"
    assert s.client.board()["RelayClosed"] and not cs.calls("StopTransaction")
    assert cs.call("UnlockConnector", {"connectorId": 1})["result"]["status"] == "Unlocked"
    stop = cs.got("StopTransaction")["payload"]
    assert (stop["transaction_id"], stop["reason"]) == (1, "UnlockCommand")
    # Finishing: reported once the charger is stopping, which can be before
    # the Stop goes out (TC_018_1 lists it after).
    if "Finishing" not in [p["status"] for p in cs.calls("StatusNotification")]:
        cs.got("StatusNotification", where=lambda p: p["status"] == "Finishing")
    deadline = time.monotonic() + 10
    while s.client.board()["Locked"] or s.client.board()["RelayClosed"]:  # contactor open, then the lock
        assert time.monotonic() < deadline, s.client.board()
        time.sleep(0.1)
    s.client.vehicle(State="A")  # the driver takes the plug out
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    assert len(cs.calls("StartTransaction")) == 1  # the vehicle still there did not start another


def test_meter_values_are_sampled_at_the_interval_during_a_transaction(sim_factory, central):
    cs = central()
    s = ocpp_charger(sim_factory, cs)
    cs.got("StatusNotification")
    assert cs.call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "1"})["result"]["status"] == \
        "Accepted"
    assert cs.call("ChangeConfiguration", {"key": "MeterValuesSampledData",
                                           "value": "Energy.Active.Import.Register,Current.Offered"}
                   )["result"]["status"] == "Accepted"
    s.client.vehicle(State="C")
    cs.got("StartTransaction")
    values = [cs.got("MeterValues")["payload"] for _ in range(3)]
    for v in values:
        assert v["transaction_id"] == 1 and v["connector_id"] == 1
        measurands = {x["measurand"]: x for x in v["meter_value"][0]["sampled_value"]}
        assert set(measurands) == {"Energy.Active.Import.Register", "Current.Offered"}
        assert measurands["Current.Offered"]["value"] == "16"
    energy = [int(next(x["value"] for x in v["meter_value"][0]["sampled_value"]
                       if x["measurand"] == "Energy.Active.Import.Register")) for v in values]
    assert energy == sorted(energy)  # never backwards


def test_charging_goes_on_offline_and_the_journal_is_replayed_in_order(sim_factory, central):
    cs = central()
    s = ocpp_charger(sim_factory, cs, ChargeAutoStart=True)
    cs.got("StatusNotification")
    assert cs.call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "1"})["result"]["status"] == \
        "Accepted"
    s.client.vehicle(State="C")
    cs.got("StartTransaction")
    cs.got("MeterValues")
    port = cs.port
    cs.stop()  # the central system goes down mid-charge
    time.sleep(3)
    assert s.client.board()["RelayClosed"]  # charging goes on
    s.client.vehicle(State="A")  # the transaction ends while nobody listens
    time.sleep(2)
    back = central(port=port)
    stop = back.got("StopTransaction", timeout=60)["payload"]
    assert (stop["transaction_id"], stop["reason"]) == (1, "EVDisconnected")
    offline = back.calls("MeterValues")
    assert offline and all(v["transaction_id"] == 1 for v in offline)  # sampled offline, sent before the Stop
    assert not back.calls("BootNotification")  # the charger did not restart: no new boot


def test_security_profile_1_sends_the_box_id_and_key_as_basic_auth(sim_factory, central):
    import base64

    cs = central()
    key = "0123456789abcdef0123"
    s = sim_factory(virtual_time=False)
    c = s.client
    c.config(OcppEndpoint="ws://127.0.0.1:%d/ocpp" % cs.port, OcppBoxId="BOX-7", OcppSecurityProfile=1,
             OcppAuthKey=key)
    assert c.ok(c.get("/webapi/v1/SystemConfig"))["OcppAuthKeySet"] is True  # write-only: never shown
    c.ok(c.post("/webapi/v1/SystemInfo", {"SCode": "Reset"}))
    time.sleep(1)
    c.wait_ready(20, s.proc)
    connected = cs.next(lambda e: "connected" in e)
    assert connected["connected"] == "BOX-7"  # the URL ends in the BoxId
    assert connected["auth"] == "Basic " + base64.b64encode(("BOX-7:" + key).encode()).decode()
    assert cs.got("BootNotification")


def test_heartbeats_at_the_interval_the_central_system_gives(sim_factory, central):
    cs = central(interval=2)
    ocpp_charger(sim_factory, cs)
    cs.got("StatusNotification")
    first = time.monotonic()
    cs.got("Heartbeat", timeout=10)
    cs.got("Heartbeat", timeout=10)
    assert 2 <= time.monotonic() - first <= 10


def test_a_fault_is_reported_faulted_with_its_error_code(sim_factory, central):
    cs = central()
    s = ocpp_charger(sim_factory, cs)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    s.client.faults(Epo=True)
    faulted = cs.got("StatusNotification", where=lambda p: p["status"] == "Faulted")["payload"]
    assert faulted["error_code"] == "OtherError"


def test_every_configuration_key_is_read_and_written_back(sim_factory, central):
    cs = central()
    ocpp_charger(sim_factory, cs)
    cs.got("StatusNotification")
    keys = cs.call("GetConfiguration", {})["result"]["configuration_key"]
    assert len(keys) >= 25
    for k in keys:
        answer = cs.call("ChangeConfiguration", {"key": k["key"], "value": k.get("value") or ""})["result"]["status"]
        if k["readonly"]:
            assert answer == "Rejected", k
        else:  # its own value back: nothing changes, whatever it needs to apply
            assert answer in ("Accepted", "RebootRequired"), (k, answer)
    again = {k["key"]: k.get("value") for k in cs.call("GetConfiguration", {})["result"]["configuration_key"]}
    assert again == {k["key"]: k.get("value") for k in keys}


def test_tc_004_a_card_at_the_charger_is_authorized_by_the_central_system(sim_factory, central):
    cs = central(authorize={"STOLEN": "Blocked"})
    s = ocpp_charger(sim_factory, cs, ChargeAutoStart=False)  # Eaton's CsMode 0, Authenticated
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    s.client.vehicle(State="C")
    cs.got("StatusNotification", where=lambda p: p["status"] == "Preparing")
    s.client.ok(s.client.post("/sim/v1/Card", {"IdTag": "STOLEN"}))
    assert cs.got("Authorize")["payload"]["id_tag"] == "STOLEN"
    time.sleep(2)
    assert not cs.calls("StartTransaction") and not s.client.board()["RelayClosed"]
    s.client.ok(s.client.post("/sim/v1/Card", {"IdTag": "04A2B3C4"}))
    assert cs.got("Authorize")["payload"]["id_tag"] == "04A2B3C4"
    assert cs.got("StartTransaction")["payload"]["id_tag"] == "04A2B3C4"
    cs.got("StatusNotification", where=lambda p: p["status"] == "Charging")
    # The same card again ends it, as at any charger.
    s.client.ok(s.client.post("/sim/v1/Card", {"IdTag": "04A2B3C4"}))
    stop = cs.got("StopTransaction")["payload"]
    assert stop["reason"] == "Local"
    assert s.client.post("/sim/v1/Card", {"IdTag": 7}).status == 400


def test_offline_a_card_charges_only_if_allow_offline_tx_for_unknown_id(sim_factory, central):
    cs = central()
    s = ocpp_charger(sim_factory, cs, ChargeAutoStart=False)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    port = cs.port
    cs.stop()
    time.sleep(1)
    s.client.vehicle(State="C")
    s.client.ok(s.client.post("/sim/v1/Card", {"IdTag": "UNKNOWN1"}))
    time.sleep(2)
    assert not s.client.board()["RelayClosed"]  # AllowOfflineTxForUnknownId is false
    back = central(port=port)
    back.got("StatusNotification", timeout=60)
    assert back.call("ChangeConfiguration", {"key": "AllowOfflineTxForUnknownId", "value": "true"}
                     )["result"]["status"] == "Accepted"
    back.stop()
    time.sleep(1)
    s.client.ok(s.client.post("/sim/v1/Card", {"IdTag": "UNKNOWN2"}))
    deadline = time.monotonic() + 10
    while not s.client.board()["RelayClosed"]:
        assert time.monotonic() < deadline, "an unknown card did not charge offline"
        time.sleep(0.2)
    again = central(port=port)
    assert again.got("StartTransaction", timeout=60)["payload"]["id_tag"] == "UNKNOWN2"
