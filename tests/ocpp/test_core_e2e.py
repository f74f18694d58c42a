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

    def __init__(self, behaviour=None):
        self.port = free_port()
        # Without firmware/ on the path, `ocpp` is the package from PyPI.
        env = dict(os.environ, PYTHONPATH="")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "central_system.py"), str(self.port),
                                      json.dumps(behaviour or {})], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env, cwd=HERE)
        self.events = queue.Queue()
        self.seen = []
        threading.Thread(target=self._pump, daemon=True).start()
        assert self.next(lambda e: "listening" in e, 20)

    def _pump(self):
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def next(self, match, timeout=30):
        """The next event that ``match`` takes (all seen are kept in ``seen``)."""
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

    def got(self, action, timeout=30, where=None):
        return self.next(lambda e: e.get("got") == action and (where is None or where(e["payload"])), timeout)

    def calls(self, action):
        return [e["payload"] for e in self.seen if e.get("got") == action]

    _ref = 0

    def call(self, action, payload, timeout=30):
        Central._ref += 1
        ref = Central._ref
        self.send({"call": action, "payload": payload, "ref": ref})
        return self.next(lambda e: "result" in e and e.get("ref") == ref, timeout)

    def send(self, cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def central():
    made = []

    def make(**behaviour):
        c = Central(behaviour)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


def ocpp_charger(sim_factory, central, **settings):
    """A simulated charger (real time) that connects to ``central``: OCPP is
    set through the WebAPI, and applies at the restart that follows."""
    s = sim_factory(virtual_time=False)
    c = s.client
    c.config(OcppEndpoint="ws://127.0.0.1:%d/ocpp" % central.port, OcppBoxId="CP1", OcppSecurityProfile=0,
             **settings)
    c.ok(c.post("/webapi/v1/SystemInfo", {"SCode": "Reset"}))
    time.sleep(1)
    c.wait_ready(20, s.proc)
    return s


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


def test_a_central_system_that_answers_with_callerror_or_not_at_all(sim_factory, central):
    cs = central(callerror=["StatusNotification"])
    s = ocpp_charger(sim_factory, cs)
    cs.got("StatusNotification")
    s.client.vehicle(State="C")  # charging goes on whatever the central system does
    deadline = time.monotonic() + 10
    while not s.client.board()["RelayClosed"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    cs.send({"behaviour": {"callerror": [], "silent": ["StartTransaction"]}})
    first = cs.got("StartTransaction")
    assert first
