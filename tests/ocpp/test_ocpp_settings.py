"""The OCPP settings in SystemConfig (firmware/app/config.py): each key
validated like every other, the authorization key write-only, and the five
checked together when OCPP is on. Runs under CPython and, through
test_ocpp_micropython.py, the 64- and 32-bit MicroPython unix ports; the
same over the WebAPI in test_ocpp_settings_webapi.py."""

from flashdir import fresh, read
from app.config import ConfigStore, public
from app.ocppsettings import parse_ws_url

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
KEY = "0123456789abcdef"
OCPP = ("OcppEndpoint", "OcppBoxId", "OcppSecurityProfile", "OcppAuthKey", "OcppCaCert")


def _store():
    return ConfigStore(fresh() + "/config.json")


def _refused(store, changes, key, words):
    before = read(store.path)
    values = dict(store.values)
    errors = store.update(changes)
    assert key in errors and words in errors[key], (changes, errors)
    assert read(store.path) == before and store.values == values  # nothing changed


def test_ocpp_is_off_by_default():
    s = _store()
    assert [s[k] for k in OCPP] == ["", "", 2, "", ""]


def test_each_security_profile_with_what_it_needs_is_accepted_and_persisted():
    s = _store()
    assert s.update(dict(OcppEndpoint="ws://192.168.0.10:9000/ocpp", OcppBoxId="14452", OcppSecurityProfile=0)) == {}
    assert s.update(dict(OcppSecurityProfile=1, OcppAuthKey=KEY)) == {}
    assert s.update(dict(OcppSecurityProfile=2, OcppEndpoint="wss://cs.example.com/ocppj/v1.6", OcppCaCert=CA)) == {}
    again = ConfigStore(s.path)
    assert [again[k] for k in OCPP] == ["wss://cs.example.com/ocppj/v1.6", "14452", 2, KEY, CA]
    assert s.update(dict(OcppEndpoint="")) == {}  # off again; the rest is kept for next time
    assert s["OcppBoxId"] == "14452"


def test_the_authorization_key_is_write_only():
    s = _store()
    assert s.update(dict(OcppAuthKey=KEY)) == {}
    shown = dict(public(s.values))
    assert "OcppAuthKey" not in shown and shown["OcppAuthKeySet"] is True
    assert KEY not in repr(shown)
    for k in ("OcppEndpoint", "OcppBoxId", "OcppSecurityProfile", "OcppCaCert"):
        assert k in shown
    assert s.update(dict(OcppAuthKey="")) == {}  # "" clears it
    assert dict(public(s.values))["OcppAuthKeySet"] is False


def test_bad_values_are_refused_with_their_reason():
    s = _store()
    for changes, key, words in (
        (dict(OcppEndpoint="http://cs.example.com"), "OcppEndpoint", "ws://"),
        (dict(OcppEndpoint="ws://"), "OcppEndpoint", "ws://"),
        (dict(OcppEndpoint="ws://host:99999/x"), "OcppEndpoint", "ws://"),
        (dict(OcppEndpoint="ws://host/a b"), "OcppEndpoint", "ws://"),
        (dict(OcppEndpoint="ws://h/" + "x" * 200), "OcppEndpoint", "200"),
        (dict(OcppEndpoint=5), "OcppEndpoint", "string"),
        (dict(OcppBoxId="box/1"), "OcppBoxId", "letters"),
        (dict(OcppBoxId="x" * 65), "OcppBoxId", "64"),
        (dict(OcppSecurityProfile=3), "OcppSecurityProfile", "between 0 and 2"),
        (dict(OcppSecurityProfile="1"), "OcppSecurityProfile", "number"),
        (dict(OcppAuthKey="short"), "OcppAuthKey", "16 to 40"),
        (dict(OcppAuthKey="x" * 41), "OcppAuthKey", "16 to 40"),
        (dict(OcppAuthKey="0123456789abcde\n"), "OcppAuthKey", "control"),
        (dict(OcppCaCert="not a certificate"), "OcppCaCert", "PEM"),
        (dict(OcppCaCert=CA.replace("MIIB", "MI!B")), "OcppCaCert", "base64"),
        (dict(OcppCaCert=CA.replace("MIIBhDCC", "AAAAhDCC")), "OcppCaCert", "not a certificate"),
        (dict(OcppCaCert=CA * 4), "OcppCaCert", "1800"),
    ):
        _refused(s, changes, key, words)


def test_the_settings_are_checked_together_when_ocpp_is_on():
    s = _store()
    _refused(s, dict(OcppEndpoint="ws://cs/ocpp", OcppSecurityProfile=0), "OcppBoxId", "BoxId")
    _refused(s, dict(OcppEndpoint="ws://cs/ocpp", OcppBoxId="b1"), "OcppEndpoint", "wss://")  # default profile 2
    _refused(s, dict(OcppEndpoint="wss://cs/ocpp", OcppBoxId="b1", OcppSecurityProfile=0), "OcppSecurityProfile", "ws://")
    _refused(s, dict(OcppEndpoint="ws://cs/ocpp", OcppBoxId="b1", OcppSecurityProfile=1), "OcppSecurityProfile", "OcppAuthKey")
    _refused(s, dict(OcppEndpoint="wss://cs/ocpp", OcppBoxId="b1", OcppAuthKey=KEY), "OcppEndpoint", "OcppCaCert")
    assert s.update(dict(OcppEndpoint="ws://cs/ocpp", OcppBoxId="b1", OcppSecurityProfile=1, OcppAuthKey=KEY)) == {}
    _refused(s, dict(OcppAuthKey=""), "OcppAuthKey", "needs an OcppAuthKey")  # cannot pull it from under OCPP
    _refused(s, dict(OcppBoxId=""), "OcppBoxId", "BoxId")


def test_ws_urls_parse_with_their_default_ports():
    assert parse_ws_url("ws://cs.example.com/ocpp/") == (False, "cs.example.com", 80, "/ocpp")
    assert parse_ws_url("wss://cs.example.com") == (True, "cs.example.com", 443, "")
    assert parse_ws_url("wss://10.0.0.1:8443/ocppj/v1.6") == (True, "10.0.0.1", 8443, "/ocppj/v1.6")
    for bad in ("http://x", "ws://", "wss://:80", "ws://h:0", "ws://h/?q", "WS://h"):
        assert parse_ws_url(bad) is None, bad
