"""The HTTP input mode, end to end: the real firmware under the MicroPython
unix port (``evsectl sim``, virtual time) reports itself to a cFos Charging
Manager played by a loopback HTTP server written here to the seed's
description of ``set_ajax_evse`` (shared/seeds/cfos-http-api.ja.txt): it
takes the wallbox's JSON object, needs the admin password, and answers
``device_enabled``, ``charging_enabled``, ``paused`` and ``charging_current``
(mA). Then the same server stops answering, and answers garbage."""

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

PASSWORD = "pw-1234"


def duty(amps):
    return amps * 100 // 6  # IEC 61851-1 below 51 A (evse.pilot.duty_permille)


class ChargingManager(ThreadingHTTPServer):
    """cFos's side of the HTTP input: ``reports`` what came, ``answer`` what
    it says back (an object, or bytes sent as they are, or "silent": it
    never answers, or an int: that HTTP status)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.reports = []  # (query, body, authorization) as received
        self.answer = {"device_enabled": True, "charging_enabled": True, "paused": False, "charging_current": 16000}
        self.release = threading.Event()  # ends the waits of "silent"
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def count(self):
        with self.lock:
            return len(self.reports)

    def last(self):
        with self.lock:
            return self.reports[-1]

    def stop(self):
        self.release.set()
        self.shutdown()
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        cfos = self.server
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        auth = self.headers.get("Authorization", "")
        if parts.path != "/cnf" or auth != "Basic " + base64.b64encode(("admin:" + PASSWORD).encode()).decode():
            self.send_error(401 if parts.path == "/cnf" else 404)
            return
        with cfos.lock:
            cfos.reports.append((parse_qs(parts.query), json.loads(body), auth))
            answer = cfos.answer
        if answer == "silent":
            cfos.release.wait(60)
            return
        if isinstance(answer, int):
            self.send_error(answer)
            return
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def manager():
    m = ChargingManager()
    yield m
    m.stop()


def start(sim_factory, manager, **settings):
    config = dict(CfosUrl=manager.url, CfosDevId="E7", CfosPassword=PASSWORD, CfosTimeoutS=10, CfosFallbackA=6)
    config.update(settings)
    s = sim_factory(files={"config.json": config})
    until(lambda: manager.count())  # the first report, at boot: from here one per 3 s of virtual time
    s.client.advance(500)
    return s, s.client


def until(what, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        got = what()
        if got:
            return got
        assert time.monotonic() < deadline, "waited %d s in vain" % timeout
        time.sleep(0.05)


def report_after(sim, manager, ms=3000):
    """Advance virtual time by ``ms`` (a report is due every 3 s) and wait
    for the report it brings (what the charger does with the answer, the
    caller waits for: applied(), or the log)."""
    n = manager.count()
    sim.advance(ms)
    until(lambda: manager.count() > n)
    return manager.last()


def applied(sim, source):
    until(lambda: sim.status()["ActualCurrentLimitSource"] == source)


def test_reports_and_follows_the_answer(sim_factory, manager):
    s, sim = start(sim_factory, manager)
    query, body, auth = manager.last()
    assert query == {"cmd": ["set_ajax_evse"], "dev_id": ["E7"]}
    assert body == {"state": 1, "max_charging_current": 16000, "current": [0, 0, 0],
                    "model": "EVSE-ESP32 0.1.0", "rfid": ""}  # no meter 1: no energy counter
    sim.vehicle(State="C")
    sim.advance(2000)
    manager.answer = dict(manager.answer, charging_current=10000)
    report_after(sim, manager)
    applied(sim, "cFos")
    sim.advance(6000)  # the offer changes at most every 5 s
    assert sim.board()["PwmDutyPermille"] == duty(10)
    _, body, _ = report_after(sim, manager)
    assert body["state"] == 3 and body["current"][0] > 9000 and body["current"][0] == body["current"][2]
    # Paused by the manager: no offer, the transaction goes on.
    manager.answer = dict(manager.answer, paused=True)
    report_after(sim, manager)
    until(lambda: sim.advance(1000) and sim.board()["PwmDutyPermille"] == 1000)
    assert sim.status()["ChargerStarted"]
    # Disabled by it.
    manager.answer = dict(manager.answer, paused=False, device_enabled=False)
    report_after(sim, manager)
    applied(sim, "Disabled")
    manager.answer = dict(manager.answer, device_enabled=True, charging_current=13500)  # 13.5 A: 13
    report_after(sim, manager)
    sim.advance(6000)
    until(lambda: sim.advance(500) and sim.board()["PwmDutyPermille"] == duty(13))


def ten_amps_then(sim, manager, answer):
    """10 A from the manager, then at once (no report in between: none is
    due before virtual time moves) ``answer`` to every report."""
    sim.vehicle(State="C")
    manager.answer = dict(manager.answer, charging_current=10000)
    report_after(sim, manager)
    applied(sim, "cFos")  # at virtual time T: its word lasts until T + 10 s
    manager.answer = answer
    sim.advance(6000)  # T + 6 s: the offer has changed (at most every 5 s); a report goes
    assert sim.board()["PwmDutyPermille"] == duty(10)


def test_a_manager_that_stops_answering(sim_factory, manager):
    s, sim = start(sim_factory, manager)
    n = manager.count()
    ten_amps_then(sim, manager, "silent")
    until(lambda: manager.count() > n + 1)  # the report it does not answer
    sim.advance(3000)  # T + 9 s
    assert sim.board()["PwmDutyPermille"] == duty(10)  # its last word holds 10 s
    sim.advance(2000)  # T + 11 s
    assert sim.board()["PwmDutyPermille"] == duty(6)  # CfosFallbackA
    assert sim.status()["ActualCurrentLimitSource"] == "cFos"
    until(lambda: "no answer within 5000 ms" in s.output())  # the charger gave up waiting (real time)
    manager.release.set()  # it answers again (the hanging one is let go)
    manager.answer = {"device_enabled": True, "charging_enabled": True, "paused": False, "charging_current": 12000}
    until(lambda: sim.advance(1000) and sim.board()["PwmDutyPermille"] == duty(12), 30)
    assert "the Charging Manager at 127.0.0.1:%d answers" % manager.server_address[1] in s.output()


@pytest.mark.parametrize("garbage", [
    b"<html>busy</html>",
    b'{"device_enabled": "yes", "charging_enabled": true, "paused": false, "charging_current": 8000}',
    b'{"device_enabled": true, "charging_enabled": true, "paused": false, "charging_current": 900000}',
    b'{"device_enabled": true, "charging_enabled": true, "charging_current": 8000}',
    b"[8000]",
    500,
])
def test_a_manager_that_answers_garbage(sim_factory, manager, garbage):
    s, sim = start(sim_factory, manager)
    ten_amps_then(sim, manager, garbage)
    until(lambda: ("HTTP 500" if garbage == 500 else "not the seed's object") in s.output())
    assert sim.board()["PwmDutyPermille"] == duty(10)  # garbage changes nothing
    sim.advance(3000)  # T + 9 s
    assert sim.board()["PwmDutyPermille"] == duty(10)
    sim.advance(2000)  # T + 11 s: the last good word has lapsed
    assert sim.board()["PwmDutyPermille"] == duty(6)
