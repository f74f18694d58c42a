"""mqtt.boardsupport under both MicroPython unix ports (64-bit, and 32-bit as
on an ESP32): a session with a fault and a silence (bsp_session.py), every
payload it publishes validated against EVerest's schema, as MicroPython's
json writes it."""

import json
import os
import subprocess

import pytest

from everest_bsp import schemas
from mpy_suite import PORTS, exe

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "everest_api/1/evse_board_support/garage_evse/"


@pytest.mark.parametrize("port", PORTS)
def test_a_session_under_micropython_publishes_what_the_schema_allows(tmp_path, port):
    proc = subprocess.run([exe(port), "-X", "heapsize=4m", os.path.join(HERE, "bsp_session.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith(("[", "{"))]
    checks = lines.pop()
    assert checks == {"not_allowed": False, "charging": True, "offered": 16, "fault_open": True, "again": True,
                      "silent_open": True}
    validators = schemas()
    published = []
    for topic, payload in lines:
        assert topic.startswith(PREFIX + "m2e/"), topic
        name = topic[len(PREFIX):]
        value = json.loads(payload)
        validators[name].validate(value)
        published.append((name[4:], value))
    events = [v["event"] for n, v in published if n == "event"]
    # E: the CP as read once the fault's 300 ms of state F are over (the short stays).
    assert events == ["A", "PowerOff", "B", "C", "PowerOn", "E", "PowerOff", "C", "PowerOn", "PowerOff"], events
    assert ("raise_error", {"type": "MREC14PilotFault", "sub_type": "EVSE_EV_ERR_E", "message": "EVSE_EV_ERR_E"}) in published
    assert ("clear_error", {"type": "MREC14PilotFault", "sub_type": "EVSE_EV_ERR_E", "message": "EVSE_EV_ERR_E"}) in published
    assert sum(1 for n, v in published if n == "communication_check") == 34  # one per heartbeat
