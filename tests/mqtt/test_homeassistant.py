"""mqtt.homeassistant on a real charger (tests/charger/rig.py: the runtime on
the simulated board, virtual time) with a client that is not connected:
what it would publish and how it takes commands. Runs under CPython and
both MicroPython ports (test_mqtt_micropython.py); the broker and a paho
"Home Assistant" are in test_homeassistant_e2e.py."""

import json
import sys

_TESTS = __file__.rsplit("/", 2)[0]  # under MicroPython too, where conftest.py does not run
if _TESTS + "/charger" not in sys.path:
    sys.path.insert(0, _TESTS + "/charger")

from mqtt import homeassistant as ha  # noqa: E402
from mqtt.client import MqttClient  # noqa: E402
from rig import Rig  # noqa: E402

LONGEST_PREFIX = "p" * 64  # MqttPrefix's most


def _adapter(**settings):
    r = Rig(**settings)
    client = MqttClient("127.0.0.1", 1883, "t", max_packet=ha.MAX_PACKET, queue_len=len(ha.ENTITIES) + 2)
    return r, client, ha.Adapter(r.charger, client, LONGEST_PREFIX)


def test_every_discovery_config_fits_the_packets_it_asks_for():
    r, client, a = _adapter(DeviceName="D" * 32)
    for i in range(len(ha.ENTITIES)):
        topic, config = a.config(i)
        assert client.publish(topic, json.dumps(config), retain=True, qos=1)  # ValueError if too big
    assert client.pending() == len(ha.ENTITIES)


def test_every_entity_has_its_member_in_the_state():
    r, client, a = _adapter()
    s = a.state()
    for _, obj, _, member, _ in ha.ENTITIES:
        assert member in s, obj
    assert s["state"] == "idle" and s["started"] == "OFF" and s["charge_current"] == 16
    assert len(json.dumps(s)) < ha.MAX_PACKET - len(LONGEST_PREFIX) - 16
    r.vehicle("C")
    r.run(2000)
    s = a.state()
    assert s["state"] == "charging" and s["started"] == "ON" and s["current"] == 16


def test_commands_take_the_webapi_checks_and_refusals_change_nothing():
    r, client, a = _adapter()
    set_ = LONGEST_PREFIX + "/set/"
    a._command(set_ + "charge_current", b"10")
    assert r.m.settings()["ChargeCurrent"] == 10 and a.errors == 0
    for name, payload in (("charge_current", b"99"), ("charge_current", b"5"), ("charge_current", b"x"),
                          ("charge_current", b"\xff"), ("start", b"ON"), ("boost", b"ON"), ("pause", b"ON"),
                          ("auto_start", b"yes"), ("explode", b"ON")):
        before = dict(r.m.settings())
        errors = a.errors
        a._command(set_ + name, payload)
        assert a.errors == errors + 1, (name, payload)
        assert r.m.settings() == before
    assert a._do("start", "ON") == "not possible now: no vehicle connected"
    assert a._do("charge_current", "99") == "ChargeCurrent: must be between 6 and 80"
    assert a._do("start", "OFF") is True  # already stopped: nothing to do
    r.vehicle("C")
    r.run(2000)
    assert a._do("pause", "ON") is True and r.m.paused
    assert a._do("pause", "OFF") is True and not r.m.paused
    assert a._do("boost", "ON") is True and r.m.boosted
    assert a._do("start", "OFF") is True
    r.run(7000)
    assert not r.m.started
    assert a._do("auto_start", "OFF") is True and r.m.settings()["ChargeAutoStart"] is False
