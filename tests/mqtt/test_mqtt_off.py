"""MQTT costs a charger without it nothing: with MqttBroker "" (even stored
so, as a client writing back the whole SystemConfig leaves it) no MQTT
module is imported at boot; set, the client and only the adapters switched
on are. On the 32-bit port, in a fresh interpreter each (boot_modules.py)."""

import json
import os
import subprocess

import microdot
import micropython32

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "boot_modules.py")


def _boot(tmp_path, settings):
    (tmp_path / "config.json").write_text(json.dumps(settings))
    lib = os.path.dirname(os.path.dirname(microdot.__file__))
    proc = subprocess.run([micropython32.exe(), "-X", "heapsize=1m", SCRIPT, lib], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_off_nothing_of_mqtt_is_imported(tmp_path):
    seen = _boot(tmp_path, dict(MqttBroker="", MqttPrefix="", MqttHomeAssistant=True))
    assert seen == dict(modules=[], client=False)


def test_on_the_client_and_only_the_adapters_switched_on(tmp_path, broker):
    seen = _boot(tmp_path, dict(MqttBroker="127.0.0.1", MqttPort=broker.port))
    # app.mqttsettings: the stored MqttBroker is checked as it loads
    assert seen == dict(modules=["app.mqttsettings", "mqtt", "mqtt.client", "mqtt.homeassistant", "mqtt.service"],
                        client=True)
    seen = _boot(tmp_path, dict(MqttBroker="127.0.0.1", MqttPort=broker.port, MqttHomeAssistant=False))
    assert seen == dict(modules=["app.mqttsettings", "mqtt", "mqtt.client", "mqtt.service"], client=True)
