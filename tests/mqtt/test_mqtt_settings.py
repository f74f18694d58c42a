"""The MQTT keys of SystemConfig (app.config, app.mqttsettings): checked
like every other key, a bad write changes nothing, the password is
write-only. Runs under CPython and the MicroPython ports
(test_mqtt_micropython.py)."""

from app import config as appconfig
from app.config import ConfigStore


def _store(name):
    # A file per test: under MicroPython the tests of a module share one directory.
    return ConfigStore(name + ".json")


def _refused(store, changes, key):
    before = dict(store.values)
    errors = store.update(changes)
    assert key in errors, errors
    assert store.values == before
    return errors[key]


def test_mqtt_is_off_by_default_with_home_assistant_ready():
    s = _store("defaults")
    assert s["MqttBroker"] == "" and s["MqttPort"] == 1883 and s["MqttPrefix"] == ""
    assert s["MqttHomeAssistant"] is True and s["MqttJosev"] is False and s["MqttEverest"] == 0


def test_good_settings_are_stored():
    s = _store("good")
    good = dict(MqttBroker="broker.lan", MqttPort=8883, MqttUser="evse", MqttPassword="s3cret",
                MqttPrefix="garage/evse-1", MqttIntervalS=2, MqttHomeAssistant=False, MqttJosev=True,
                MqttEverest=2)
    assert s.update(good) == {}
    again = _store("good")
    for key, value in good.items():
        assert again[key] == value
    assert s.update(dict(MqttBroker="192.168.0.5")) == {}


def test_bad_settings_are_refused_with_a_reason_and_change_nothing():
    s = _store("bad")
    for changes, key in (
        (dict(MqttBroker="broker lan"), "MqttBroker"),
        (dict(MqttBroker="mqtt://broker"), "MqttBroker"),
        (dict(MqttBroker="a" * 64), "MqttBroker"),
        (dict(MqttPort=0), "MqttPort"),
        (dict(MqttPrefix="evse/+"), "MqttPrefix"),
        (dict(MqttPrefix="evse/#"), "MqttPrefix"),
        (dict(MqttPrefix="/evse"), "MqttPrefix"),
        (dict(MqttPrefix="evse//1"), "MqttPrefix"),
        (dict(MqttPrefix="my evse"), "MqttPrefix"),
        (dict(MqttIntervalS=0), "MqttIntervalS"),
        (dict(MqttEverest=3), "MqttEverest"),
        (dict(MqttJosev=1), "MqttJosev"),
        (dict(MqttBroker="b", MqttPassword="pw"), "MqttPassword"),  # MQTT: no password without a user
    ):
        reason = _refused(s, changes, key)
        assert isinstance(reason, str) and reason


def test_the_password_is_write_only():
    s = _store("password")
    assert s.update(dict(MqttUser="evse", MqttPassword="s3cret")) == {}
    shown = dict(appconfig.public(s.values))
    assert "MqttPassword" not in shown and shown["MqttPasswordSet"] is True
    assert s.update(dict(MqttPassword="")) == {}
    assert dict(appconfig.public(s.values))["MqttPasswordSet"] is False


# A real certificate (a CA made for the tests), as tests/ocpp/test_ocpp_settings.py has it.
CA = """-----BEGIN CERTIFICATE-----
MIIBhDCCASmgAwIBAgIUGblQmVBlPYgEy49DK79VIynn6SswCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMVGVzdCBPQ1BQIENBMB4XDTI2MTIwNDAzNDQzOVoXDTM2MTIw
MTAzNDQzOVowFzEVMBMGA1UEAwwMVGVzdCBPQ1BQIENBMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEMrkjOdxsKAgEzawZD0z/2AcZMOh7JG2qIZr1w/2DzLOqvI+s
tpnJRXA2YqDsgPALKz08xOEERhyWdiz+MUKSZqNTMFEwHQYDVR0OBBYEFJ3UoY0Q
S6LqqDgePYCSzC7BaMrYMB8GA1UdIwQYMBaAFJ3UoY0QS6LqqDgePYCSzC7BaMrY
MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhALckApj/fSwOlOAj
mxwLu5idPzE1g17r4SfSp6Dua3i3AiEAh/usIH7AoBCv9zpM8tX7GSvHU7l5LYeU
cNm365jph8E=
-----END CERTIFICATE-----
"""


def test_tls_is_refused_where_the_interpreter_has_none_and_needs_a_ca_without_a_store():
    try:
        import ssl

        kind = "store" if hasattr(ssl, "create_default_context") else "no store"
    except ImportError:
        kind = "none"
    s = _store("tls")
    errors = s.update(dict(MqttBroker="broker.lan", MqttTls=True))
    if kind == "none":  # the 32-bit unix port: no ssl module
        assert "no TLS" in errors["MqttTls"] and s["MqttTls"] is False
        assert "no TLS" in s.update(dict(MqttBroker="broker.lan", MqttTls=True, MqttCaCert=CA))["MqttTls"]
    elif kind == "store":  # CPython: the system's CAs
        assert errors == {}
    else:  # MicroPython with TLS: no CA store
        assert "MqttCaCert" in errors["MqttTls"] and s["MqttTls"] is False
        assert s.update(dict(MqttCaCert=CA, MqttTls=True)) == {}
    assert s.update(dict(MqttCaCert="-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----")) != {}
