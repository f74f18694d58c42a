"""The charger's OpenAPI description (firmware/app/openapi.json) is current,
is what the charger serves, and describes every answer it really gives:
the simulator is driven through each endpoint, success and every error, and
each exchange is checked by openapi-core, a maintained validator."""

import json
import time

import jsonschema
import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from evsectl import openapi, paths

SPEC_FILE = paths.firmware_dir() / openapi.OUT


@pytest.fixture(scope="module")
def spec():
    return OpenAPI.from_dict(json.loads(SPEC_FILE.read_text()))


class Checked:
    """A SimClient whose every exchange is validated against the description."""

    def __init__(self, client, spec):
        self.client = client
        self.spec = spec
        self.seen = set()  # (method, path, status)

    def call(self, method, path, body=None, raw=None, valid_request=True, described=True, **kw):
        """``described``: False for a method or path the description has
        not (405, 404); the answer must still be its Errors object."""
        if body is not None:
            raw = json.dumps(body).encode()
        answer = self.client.request(method, path, raw=raw, headers={"Content-Type": "application/json"}, **kw)
        request = MockRequest("http://127.0.0.1", method.lower(), path, data=raw,
                              content_type="application/json" if raw is not None else None)
        self.seen.add((method, path, answer.status))
        if not described:
            errors = json.loads(SPEC_FILE.read_text())["components"]["schemas"]["Errors"]
            jsonschema.validate(answer.json, errors)
            return answer
        if valid_request:
            self.spec.validate_request(request)
        response = MockResponse(answer.body.encode(), status_code=answer.status,
                                content_type=answer.headers.get("Content-Type", "").split(";")[0])
        self.spec.validate_response(request, response)
        return answer


def test_the_description_is_generated_from_the_firmware_settings():
    assert SPEC_FILE.read_text() == openapi.text(), "run: python -m evsectl.openapi"


def test_the_charger_serves_the_description_from_flash(sim):
    answer = sim.get("/webapi/v1/openapi.json")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.body == SPEC_FILE.read_text()


def test_every_answer_of_the_charger_matches_its_description(sim, spec):
    api = "/webapi/v1/"
    c = Checked(sim, spec)
    for name in ("Status", "Meter1", "Meter2", "SystemConfig", "SystemInfo"):
        assert c.call("GET", api + name).status == 200

    # Meters configured and read: Meter1 and Meter2 carry registers.
    assert c.call("POST", api + "SystemConfig", {"Meter1Type": 1, "Meter2Type": 1}).status == 200
    sim.advance(3000)
    assert c.call("GET", api + "Meter1").json["Meter1"]["ModbusData"]
    assert c.call("GET", api + "Meter2").status == 200

    # A session: start refused (409), then a car, started, boosted, limited.
    assert c.call("POST", api + "EvseCtrl", {"ChargeStartToggle": True}).status == 409
    sim.config(ChargeAutoStart=False)
    sim.vehicle(State="C")
    sim.advance(2000)
    assert c.call("POST", api + "EvseCtrl", {"ChargeStartToggle": True}).status == 200
    sim.advance(5000)
    status = c.call("GET", api + "Status").json
    assert status["ChargerStarted"] and status["EvseState"] == 5  # charging (C)
    assert c.call("POST", api + "EvseCtrl", {"ChargeBoostToggle": True}).status == 200
    assert c.call("POST", api + "SystemConfig", {"ChargerMode": 1}).status == 409  # not while connected

    # Bad input, in every way the WebAPI refuses it.
    for body in ({"ChargeStartToggle": 1}, {"Nope": True}, {"EVSEPowerAvailable": -1}):
        assert c.call("POST", api + "EvseCtrl", body, valid_request=False).status == 400
    for raw in (b"{", b"[1]", b"[[[[[[1]]]]]]", b'{"ChargeCurrent": 1e400}'):
        assert c.call("POST", api + "SystemConfig", raw=raw, valid_request=False).status == 400
    assert c.call("POST", api + "SystemConfig", {"ChargeCurrent": 99}, valid_request=False).status == 400
    assert c.call("POST", api + "SystemInfo", {"SCode": "Explode"}, valid_request=False).status == 400
    assert c.call("POST", api + "SystemInfo", {"SCode": "WiFiSetToAP"}).status == 200
    assert c.call("POST", api + "SystemInfo", {"SCode": "WiFiSetToAP"}).status == 409  # in AP mode now
    assert c.call("POST", api + "SystemInfo", {"UpdateCheckToggle": True}).status == 200
    assert c.call("POST", "/ota/v1/Update", {"Server": "ftp://x"}, valid_request=False).status == 400
    assert c.call("POST", "/ota/v1/Update", {"Server": "http://127.0.0.1:9"}).status == 409  # charging
    assert c.call("POST", api + "SystemConfig", raw=b" " * 3000, valid_request=False).status == 413
    assert c.call("GET", api + "EvseCtrl", described=False).status == 405
    assert c.call("GET", api + "Nothing", described=False).status == 404

    # Writes past the budget, then the admin password: 429, 401.
    codes = [c.call("POST", api + "SystemConfig", {"ChargeCurrent": 10 + i % 2}).status for i in range(12)]
    assert codes[:10] == [200] * 10 and 429 in codes
    time.sleep(2.1)  # the write budget refills on the real clock
    # Under remote control (Meter2Type 7) only that system may set the power.
    assert c.call("POST", api + "SystemConfig", {"Meter2Type": 7, "Meter2Ip": "10.0.0.9"}).status == 200
    assert c.call("POST", api + "EvseCtrl", {"EVSEPowerAvailable": 7000}).status == 403
    assert c.call("POST", api + "SystemConfig", {"AdminPassword": "s3cret"}).status == 200
    assert c.call("POST", api + "EvseCtrl", {"ChargeStartToggle": True}).status == 401
    sim.auth = ("admin", "s3cret")
    assert c.call("POST", api + "EvseCtrl", {"ChargeBoostToggle": True}).status == 200

    statuses = {status for _, _, status in c.seen}
    assert statuses == {200, 400, 401, 403, 404, 405, 409, 413, 429}
