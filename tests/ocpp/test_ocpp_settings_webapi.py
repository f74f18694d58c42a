"""The OCPP settings over the WebAPI (POST/GET /webapi/v1/SystemConfig),
against the firmware under the MicroPython unix port (``evsectl sim``):
accepted with what they need, refused with the reason and no change, the
authorization key never shown, and a GET written back whole accepted."""

import json

from test_ocpp_settings import CA, KEY

API = "/webapi/v1/SystemConfig"


def test_ocpp_settings_are_written_shown_and_never_leak_the_key(sim):
    body = sim.config(OcppEndpoint="wss://cs.example.com/ocppj/v1.6", OcppBoxId="14452", OcppSecurityProfile=2,
                      OcppAuthKey=KEY, OcppCaCert=CA)
    got = sim.ok(sim.get(API))
    for answer in (body, got):
        assert answer["OcppEndpoint"] == "wss://cs.example.com/ocppj/v1.6" and answer["OcppBoxId"] == "14452"
        assert answer["OcppSecurityProfile"] == 2 and answer["OcppCaCert"] == CA
        assert answer["OcppAuthKeySet"] is True and "OcppAuthKey" not in answer
        assert KEY not in json.dumps(answer)
    # A client that GETs the settings and POSTs them back whole changes nothing.
    back = sim.post(API, got)
    assert back.status == 200, back
    assert sim.ok(sim.get(API))["OcppAuthKeySet"] is True


def test_a_bad_ocpp_setting_is_refused_with_its_reason_and_changes_nothing(sim):
    before = sim.ok(sim.get(API))
    for body, key, words in (
        ({"OcppEndpoint": "http://cs.example.com"}, "OcppEndpoint", "ws://"),
        ({"OcppEndpoint": "ws://cs.example.com/ocpp", "OcppBoxId": "b1"}, "OcppEndpoint", "wss://"),
        ({"OcppAuthKey": "short"}, "OcppAuthKey", "16 to 40"),
        ({"OcppCaCert": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"}, "OcppCaCert", "certificate"),
        ({"OcppAuthKeySet": True}, "OcppAuthKeySet", "read-only"),  # no key is set
    ):
        r = sim.post(API, dict(body, ChargeCurrent=7))
        assert r.status == 400, (body, r)
        assert words in r.json["Errors"][key], r.json
        after = sim.ok(sim.get(API))
        assert dict(after, TimeStamp=0) == dict(before, TimeStamp=0)
