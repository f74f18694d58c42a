"""Home Assistant, end to end: the real firmware under the MicroPython unix
port (``evsectl sim``, virtual time) talks to Debian's mosquitto; a
paho-mqtt client plays Home Assistant. Every discovery config is checked
against schemas/homeassistant_discovery.json (Home Assistant's documented
keys); the simulator's control API drives the vehicle and shows the PWM."""

import json
from pathlib import Path

import jsonschema
import pytest

from mqtt.homeassistant import COMMANDS, ENTITIES, STATES

PREFIX = "garage/evse"
NODE = "garage_evse"
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "homeassistant_discovery.json").read_text())


def duty(amps):
    return amps * 100 // 6  # IEC 61851-1 below 51 A (evse.pilot.duty_permille)


def check_config(topic, payload):
    component = topic.split("/")[1]
    config = json.loads(payload)
    jsonschema.validate(config, {"$ref": "#/$defs/" + component, "$defs": SCHEMA["$defs"]})
    return component, config


@pytest.fixture
def charger(sim_factory, broker):
    settings = dict(MqttBroker="127.0.0.1", MqttPort=broker.port, MqttPrefix=PREFIX, MqttIntervalS=1,
                    DeviceName="Garage")
    sim = sim_factory(files={"config.json": settings}).client
    sim.advance(500)  # the boot self-test
    return sim


def discovery(ha, retained=False):
    """Wait for every entity's config; {object id: (component, config)}, each
    checked. ``retained``: ``ha`` subscribed after they were published, and
    the broker kept them."""
    found = {}
    for component, obj, _, _, _ in ENTITIES:
        msg = ha.wait("homeassistant/%s/%s/%s/config" % (component, NODE, obj))
        assert msg.retain == retained
        found[obj] = check_config(msg.topic, msg.payload)
    return found


def command(ha, topic, payload):
    """Publish a command as Home Assistant does; the index of ``ha.messages``
    from which the state it causes is to be looked for (the state before it
    may match too)."""
    n = len(ha.messages)
    ha.publish(topic, payload)
    return n


def state(ha, match=lambda s: True, after=0):
    msg = ha.wait(PREFIX + "/state", lambda m: match(json.loads(m.payload)), after=after)
    return json.loads(msg.payload)


def test_the_schema_refuses_what_home_assistant_would():
    good = {"name": "Power", "unique_id": "x_power", "state_topic": "x/state", "device": {"identifiers": ["x"]},
            "device_class": "power", "unit_of_measurement": "W"}
    check_config("homeassistant/sensor/x/power/config", json.dumps(good))
    for bad in (dict(good, unit_of_measurement="kWh"), dict(good, stat_topic="x"), dict(good, device_class="watts"),
                dict(good, device_class="enum"), dict(good, device={"name": "no identifiers"})):
        with pytest.raises(jsonschema.ValidationError):
            check_config("homeassistant/sensor/x/power/config", json.dumps(bad))


def test_a_session_seen_and_steered_from_home_assistant(charger, peer):
    sim = charger
    ha = peer()
    ha.subscribe("homeassistant/#")
    ha.subscribe(PREFIX + "/#")
    assert ha.wait(PREFIX + "/status").payload == b"online"
    configs = discovery(ha)
    # One device, available through the last will's topic; every command on <prefix>/set/.
    devices = {json.dumps(c["device"], sort_keys=True) for _, c in configs.values()}
    assert len(devices) == 1
    device = configs["power"][1]["device"]
    assert device["identifiers"] == [NODE] and device["name"] == "Garage" and device["sw_version"]
    for obj, (component, c) in configs.items():
        assert c["availability_topic"] == PREFIX + "/status"
        assert c["state_topic"] == PREFIX + "/state"
        assert ("command_topic" in c) == (obj in COMMANDS) == (component != "sensor")
    assert configs["state"][1]["options"] == list(STATES)

    s = state(ha)
    assert s["state"] in ("waiting", "idle") and s["started"] == "OFF" and s["charge_current"] == 16
    assert s["fault"] == "no faults" and s["l1"] is None  # no meter 1: unknown to HA
    # A vehicle arrives and charges: the state sensor follows.
    sim.vehicle(State="C")
    sim.advance(3000)
    s = state(ha, lambda s: s["state"] == "charging")
    assert s["started"] == "ON" and s["current"] == 16 and s["power"] > 0
    assert sim.board()["PwmDutyPermille"] == duty(16)
    # HA sets 10 A: the offer follows (it changes at most every 5 s).
    state(ha, lambda s: s["charge_current"] == 10, after=command(ha, PREFIX + "/set/charge_current", "10.0"))
    sim.advance(6000)
    assert sim.board()["PwmDutyPermille"] == duty(10)
    s2 = state(ha, lambda s2: s2["current"] == 10 and s2["session_duration"] >= s["session_duration"] + 6)
    assert s2["session_energy"] > s["session_energy"] > 0 and s2["power"] == 10 * 230 * 3
    # Bad values: refused as the WebAPI refuses them, said on <prefix>/error, nothing changed.
    for payload, words in (("99", "ChargeCurrent: must be between 6 and 80"), ("ten", "must be a number"),
                           ("7.5", "whole number")):
        n = len(ha.messages)
        ha.publish(PREFIX + "/set/charge_current", payload)
        err = json.loads(ha.wait(PREFIX + "/error", after=n).payload)
        assert err["command"] == "charge_current" and err["payload"] == payload and words in err["error"], err
    assert sim.get("/webapi/v1/SystemConfig").json["ChargeCurrent"] == 10
    n = len(ha.messages)
    ha.publish(PREFIX + "/set/boost", "maybe")
    assert json.loads(ha.wait(PREFIX + "/error", after=n).payload)["error"] == "must be ON or OFF"
    # Boost, pause and resume.
    state(ha, lambda s: s["boosted"] == "ON", after=command(ha, PREFIX + "/set/boost", "ON"))
    state(ha, lambda s: s["paused"] == "ON", after=command(ha, PREFIX + "/set/pause", "ON"))
    sim.advance(1000)
    assert sim.board()["PwmDutyPermille"] == 1000  # no offer
    state(ha, lambda s: s["paused"] == "OFF", after=command(ha, PREFIX + "/set/pause", "OFF"))
    sim.advance(6000)
    assert sim.board()["PwmDutyPermille"] == duty(32)  # boosted: ChargeCurrentBoost
    # Stop, then auto start off; a stop while stopped is no error.
    # Taken: time may go on.
    state(ha, lambda s: s["started"] == "OFF", after=command(ha, PREFIX + "/set/start", "OFF"))
    sim.advance(7000)
    assert not sim.board()["RelayClosed"]
    state(ha, lambda s: s["auto_start"] == "OFF", after=command(ha, PREFIX + "/set/auto_start", "OFF"))
    assert sim.get("/webapi/v1/SystemConfig").json["ChargeAutoStart"] is False
    assert len(ha.on(PREFIX + "/error")) == 4
    # Home Assistant started later finds it all on the broker.
    late = peer()
    late.subscribe("homeassistant/#")
    late.subscribe(PREFIX + "/state")
    assert discovery(late, retained=True) == configs
    assert late.wait(PREFIX + "/state").retain


def test_the_broker_restarted_gets_discovery_and_state_again(charger, peer, broker):
    ha = peer()
    ha.subscribe("homeassistant/#")
    discovery(ha)
    ha.close()
    broker.kill()
    broker.start()  # no persistence: nothing retained survives
    ha = peer()
    ha.subscribe("homeassistant/#")
    ha.subscribe(PREFIX + "/#")
    discovery(ha)
    assert ha.wait(PREFIX + "/status").payload == b"online"
    assert state(ha)["state"] in ("waiting", "idle")
    charger.vehicle(State="B")
    charger.advance(1000)
    state(ha, lambda s: s["state"] == "connected")


def test_the_last_will_says_offline_when_the_charger_dies(sim_factory, broker, peer):
    settings = dict(MqttBroker="127.0.0.1", MqttPort=broker.port, MqttPrefix=PREFIX, MqttHomeAssistant=False)
    proc = sim_factory(files={"config.json": settings})
    ha = peer()
    ha.subscribe(PREFIX + "/status")
    assert ha.wait(PREFIX + "/status").payload == b"online"
    proc.proc.kill()  # the firmware's process: its socket closes without a DISCONNECT
    assert ha.wait(PREFIX + "/status", lambda m: m.payload == b"offline").payload == b"offline"


def test_the_charger_over_tls_with_its_ca(sim_factory, broker, certs, peer):
    settings = dict(MqttBroker="localhost", MqttPort=broker.tls_port, MqttTls=True,
                    MqttCaCert=certs["ca"].read_text(), MqttPrefix=PREFIX)
    sim_factory(files={"config.json": settings})
    ha = peer()  # on the plain listener: the same broker
    ha.subscribe(PREFIX + "/#")
    assert ha.wait(PREFIX + "/status").payload == b"online"
    state(ha)
