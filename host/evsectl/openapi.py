"""The OpenAPI 3.1 description of the charger's WebAPI, ``firmware/app/openapi.json``.

The charger serves that file at ``GET /webapi/v1/openapi.json`` (streamed
from flash). It is generated here rather than written by hand so that the
settings in it are exactly the firmware's (``app.config.SCHEMA``): run
``python -m evsectl.openapi`` after changing an endpoint or a setting, and
the tests check that the file is current and that every real answer of the
simulator matches it (tests/test_openapi.py). docs/webapi.md explains it all
in prose.
"""

import json
import sys

from evsectl import paths

OUT = "app/openapi.json"


def _obj(props, required=True, extra=False):
    schema = {"type": "object", "properties": props, "additionalProperties": extra}
    if required:
        schema["required"] = sorted(props)
    return schema


INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
STR = {"type": "string"}
TIMESTAMP = {"type": "integer", "minimum": 0, "description": "ms since the charger started"}

STATUS = _obj({
    "TimeStamp": TIMESTAMP,
    "SystemVersion": STR,
    "WiFiInfo": {"type": "string", "description": "SSID:signal%"},
    "EvseState": {"type": "integer", "minimum": 0, "maximum": 11,
                  "description": "0 waiting, 1 idle (A), 2 relay error, 3 emergency stop, 4 connected (B), "
                                 "5 charging (C), 6 ventilation (D), 7 diode error, 8 vehicle error (E), "
                                 "9 general error, 10 PP error, 11 lock error"},
    "ThreePhaseCharging": BOOL,
    "ActualCurrent": {"type": "integer", "minimum": 0, "description": "A offered on the CP"},
    "PPCodedCurrent": {"type": "integer", "minimum": 0, "description": "the cable's rating (A), 0 none"},
    "ActualPower": {"type": "integer", "minimum": 0, "description": "W"},
    "ActualPowerAvailable": {"type": "integer", "minimum": 0, "description": "W, EVSEPowerAvailable in force, 0 none"},
    "ActualEnergy": {"type": "integer", "minimum": 0, "description": "W·s this session"},
    "ActualDuration": {"type": "string", "pattern": "^[0-9]+h:[0-9]{2}m:[0-9]{2}s$"},
    "ActualDurationTotalSeconds": {"type": "integer", "minimum": 0},
    "AutoStartAllowed": BOOL,
    "StartStopAllowed": BOOL,
    "BoostAllowed": BOOL,
    "ChargerStarted": BOOL,
    "ChargeBoosted": BOOL,
    "Meter1Status": {"type": "integer", "minimum": 0, "description": "failed requests since the meter settings last changed"},
    "Meter2Status": {"type": "integer", "minimum": 0},
    "ActualEnergyEstimated": {"type": "boolean", "description": "extension: ActualEnergy is estimated, not metered"},
    "ActualCurrentLimitSource": {"enum": ["None", "Settings", "Cable", "Rating", "LoadManagement",
                                          "EVSEPowerAvailable", "OCPP", "cFos", "Josev", "EVerest", "Paused",
                                          "Disabled"],
                                 "description": "extension: whose limit the offer is (docs/charging.md)"},
})

REGISTER = _obj({
    "Desc": STR,
    "ErrCounter": {"type": "integer", "minimum": 0},
    "Value": NUM,
    "DataStatus": {"enum": ["Valid", "Not available"]},
})


def _meter(n):
    key = "Meter%d" % n
    return _obj({key: _obj({
        "TimeStamp": TIMESTAMP,
        "ModbusData": {"type": "object", "description": "registers by \"0x<fc>_0x<address>\"",
                       "propertyNames": {"pattern": "^0x[0-9a-f]{2}_0x[0-9a-f]{4}$"},
                       "additionalProperties": REGISTER},
    })})


def _setting(kind, lo, hi, default):
    if kind == "bool":
        return {"type": "boolean", "default": default}
    if kind == "int":
        return {"type": "integer", "minimum": lo, "maximum": hi, "default": default}
    if kind == "enum":
        return {"enum": list(lo), "default": default}
    if kind == "str":
        return {"type": "string", "minLength": lo, "maxLength": hi, "default": default}
    if kind == "secret":
        return {"type": "string", "minLength": lo, "maxLength": hi, "writeOnly": True,
                "description": "write-only; \"\" clears it"}
    if kind == "addr":
        return {"type": "string", "description": "IPv4 address with an optional :port, or \"\"", "default": default}
    if kind == "url":
        return {"type": "string", "maxLength": hi, "description": "http:// URL, or \"\"", "default": default}
    if kind == "ws":
        return {"type": "string", "maxLength": hi, "description": "ws:// or wss:// URL, or \"\"", "default": default}
    if kind == "id":
        return {"type": "string", "maxLength": hi, "pattern": "^[A-Za-z0-9_.-]*$", "default": default}
    if kind == "pem":
        return {"type": "string", "maxLength": hi, "description": "a PEM certificate, or \"\"", "default": default}
    if kind == "host":
        return {"type": "string", "maxLength": hi, "pattern": "^[A-Za-z0-9.-]*$",
                "description": "host name or IPv4 address, or \"\"", "default": default}
    if kind == "topic":
        return {"type": "string", "maxLength": hi, "pattern": "^[^+#/ ]+(/[^+#/ ]+)*$|^$",
                "description": "MQTT topic prefix: levels split by /, no wildcards", "default": default}
    raise ValueError("unknown setting kind %r" % kind)


def _settings():
    from app.config import SCHEMA

    return {key: _setting(*spec) for key, spec in SCHEMA.items()}


def _shown_only():
    """The members a GET shows that are not settings: for a secret, only
    whether it is set (app.config.public)."""
    shown = dict(TimeStamp=TIMESTAMP, SystemVersion=STR)
    shown.update((key + "Set", BOOL) for key, v in _settings().items() if v.get("writeOnly"))
    return shown


def _config_read():
    props = {k: v for k, v in _settings().items() if not v.get("writeOnly")}
    props.update(_shown_only())
    return _obj(props)


def _config_write():
    props = _settings()
    props.update(_shown_only())  # may be sent back unchanged (docs/webapi.md)
    return _obj(props, required=False)


SYSINFO = _obj({
    "TimeStamp": TIMESTAMP,
    "SystemVersion": STR,
    "ProductType": STR,
    "MAC": {"type": "string", "pattern": "^([0-9A-F]{2}:){5}[0-9A-F]{2}$"},
    "WiFiInfo": {"type": "string", "description": "SSID,RSSI:<dBm>dB/<percent>%"},
    "HeapInfo": {"type": "string", "pattern": "^0x[0-9A-F]{6,}/0x[0-9A-F]{6,}$",
                 "description": "lowest free heap since boot / free now"},
    "GeneralInfo": STR,
    "OTAMsg": {"type": ["string", "null"]},
    "OTACheckAllowed": BOOL,
    "OTAUpdateAllowed": BOOL,
    "WiFiMode": {"enum": ["sta", "ap", "off"],
                 "description": "extension: station, the setup access point, or off"},
})

PERFORMING = {"type": "string", "description": "\"Performing\", or why not"}


def _errors_ref():
    return {"$ref": "#/components/schemas/Errors"}


def _answers(ok, *codes, ok_headers=None):
    answers = {"200": {"description": "OK", "content": {"application/json": {"schema": ok}}}}
    reasons = {"400": "bad input; nothing changed", "401": "admin password required (HTTP Basic, user admin)",
               "403": "not allowed from this client", "404": "no such endpoint", "405": "method not allowed",
               "409": "not possible now; nothing changed", "413": "body too large",
               "429": "too many writes or wrong passwords; see Retry-After",
               "503": "out of memory; try again (Retry-After)"}
    for code in ("404", "405", "413", "503") + codes:
        answers[code] = {"description": reasons[code], "content": {"application/json": {"schema": _errors_ref()}}}
    return answers


def _post(schema, ok, *codes):
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": _answers(ok, "400", "401", "429", *codes)}


def describe():
    api = "/webapi/v1/"
    return {
        "openapi": "3.1.0",
        "info": {"title": "EVSE WebAPI", "version": "1",
                 "description": "WebAPI v1 of the controller this firmware replaces, key for key, with the "
                                "extensions docs/webapi.md lists. With an admin password set, every POST needs "
                                "HTTP Basic auth (user admin); GETs stay open."},
        "paths": {
            api + "Status": {"get": {"responses": _answers(STATUS)}},
            api + "EvseCtrl": {"post": _post(
                _obj({"ChargeStartToggle": BOOL, "ChargeBoostToggle": BOOL,
                      "EVSEPowerAvailable": {"type": "number", "minimum": 0, "maximum": 1000000}}, required=False),
                _obj({"ChargerStarted": BOOL, "ChargeBoosted": BOOL, "ActualPowerAvailable": INT}, required=False),
                "403", "409")},
            api + "Meter1": {"get": {"responses": _answers(_meter(1))}},
            api + "Meter2": {"get": {"responses": _answers(_meter(2))}},
            api + "SystemConfig": {"get": {"responses": _answers(_config_read())},
                                   "post": _post(_config_write(), _config_read(), "409")},
            api + "SystemInfo": {"get": {"responses": _answers(SYSINFO)},
                                 "post": _post(
                                     _obj({"SCode": {"enum": ["Reset", "FactoryDefault", "WiFiSetToAP",
                                                              "ResetMeterEnergy"]},
                                           "Scode": STR, "SCodeData": STR,
                                           "UpdateCheckToggle": BOOL, "UpdateRunToggle": BOOL}, required=False),
                                     _obj({"Reset": PERFORMING, "FactoryDefault": PERFORMING,
                                           "WiFiSetToAP": PERFORMING, "ResetMeterEnergy": {"const": "Done"},
                                           "UpdateCheckToggle": PERFORMING, "UpdateRunToggle": PERFORMING},
                                          required=False),
                                     "409")},
            api + "openapi.json": {"get": {"responses": _answers({"type": "object"})}},
            "/ota/v1/Update": {"post": _post(_obj({"Server": {"type": "string", "pattern": "^http://"}}),
                                             _obj({"Update": {"const": "Performing"}}), "409")},
        },
        "components": {"schemas": {"Errors": _obj({"Errors": {
            "type": "object", "minProperties": 1, "additionalProperties": STR,
            "description": "the key (or \"body\", \"path\", \"method\", \"server\") and why"}})}},
    }


def text():
    return json.dumps(describe(), sort_keys=True, separators=(",", ":")) + "\n"


def main():
    sys.path.insert(0, str(paths.firmware_dir()))
    out = paths.firmware_dir() / OUT
    out.write_text(text())
    print("wrote %s (%d bytes)" % (out, out.stat().st_size))


if __name__ == "__main__":
    main()
