"""The configuration store: SystemConfig and what else the product needs.

Every write is validated as a whole before anything changes, then persisted
by atomic replace (write ``config.json.tmp``, flush, rename over
``config.json``): a power cut at any instant leaves either the old or the new
file, never a mix. A missing or unreadable file gives factory defaults and a
log line, never a crash.
"""

import json
import os

from app import log
from app.atomic import write_atomic
from app.jsonstream import pieces

# key: (kind, lowest, highest, factory default). Kinds: "int", "bool",
# "addr" (dotted quad with an optional :port, or ""), "enum" (one of the
# tuple in "lowest"), "str" (length bounds), "secret" (write-only), "url"
# (an http:// URL of at most "highest" characters, or ""), "ws" (the same
# with ws:// or wss://), "id" (letters, digits, -_.), "pem" (a PEM certificate),
# "host" (a host name or IPv4 address, or ""), "topic" (an MQTT topic prefix).
#
# Written dict(Key=...) rather than {"Key": ...}, here and in the WebAPI's
# answers: MicroPython interns keyword names (and then every string of this
# file spelt the same) when the module loads, where a string literal longer
# than 10 characters becomes a heap object of its own, some 40 bytes each.
SCHEMA = dict(
    # WebAPI v1 SystemConfig, in the original's order.
    ChargerMode=("int", 0, 1, 0),
    LockMethod=("int", 0, 1, 0),
    ChargeCurrent=("int", 6, 80, 16),
    ChargeCurrentBoost=("int", 6, 80, 32),
    Meter1Type=("int", 0, 6, 0),
    Meter1Ip=("addr", 0, 0, ""),
    Meter2Type=("int", 0, 7, 0),
    Meter2Ip=("addr", 0, 0, ""),
    PhaseCurrentLimit=("int", 6, 1000, 25),
    ControlStrategy=("int", 0, 1, 0),
    ControlLimit=("int", 0, 1000000, 0),
    ChargeAutoStart=("bool", 0, 0, True),
    Charge3Phase=("bool", 0, 0, True),
    # What the product needs beyond the original.
    VentilationAvailable=("bool", 0, 0, False),
    DeviceName=("str", 1, 32, "EVSE"),
    WiFiSSID=("str", 0, 32, ""),
    WiFiPassword=("secret", 8, 63, ""),
    AdminPassword=("secret", 4, 64, ""),
    # Meters (docs/meters-and-load.md).
    Meter1Unit=("int", 1, 247, 1),  # Modbus unit id
    Meter2Unit=("int", 1, 247, 2),
    Meter1PerPhase=("bool", 0, 0, False),  # SDM72D-M v2: read per-phase values too
    Meter2PerPhase=("bool", 0, 0, False),
    Meter1IpRtu=("bool", 0, 0, False),  # IP types: RTU frames over TCP (serial converter), not Modbus TCP
    Meter2IpRtu=("bool", 0, 0, False),
    MeterBaud=("int", 1200, 115200, 9600),
    MeterFraming=("enum", ("8N1", "8E1", "8N2"), 0, "8N1"),
    MeterPollMs=("int", 500, 60000, 1000),
    MeterTimeoutMs=("int", 50, 5000, 300),
    MeterStaleS=("int", 2, 600, 10),  # older readings are "Not available"
    SupplyPhaseL1=("int", 1, 3, 1),  # the site phase the charger's L1 is wired to; L2, L3 follow in rotation
    LoadFallbackA=("int", 0, 80, 6),  # cap while meter 2 or the remote system is silent; 0 pauses
    RemoteTimeoutS=("int", 5, 3600, 60),  # Meter2Type 7: silence before the fallback
    # Firmware updates (docs/ota.md); "" = none.
    UpdateServer=("url", 0, 128, ""),
    # OCPP 1.6J (docs/webapi.md, "OCPP"): "" = off, and the ocpp package is never imported.
    OcppEndpoint=("ws", 0, 200, ""),  # ws:// or wss:// URL, the BoxId is appended
    OcppBoxId=("id", 0, 64, ""),
    OcppSecurityProfile=("int", 0, 2, 2),  # 0 ws, 1 ws + Basic auth, 2 wss + Basic auth (Eaton)
    OcppAuthKey=("secret", 16, 40, ""),  # Basic auth password, profiles 1 and 2
    OcppCaCert=("pem", 0, 1800, ""),  # PEM CA certificate the wss:// server must chain to
    # cFos (docs/cfos.md), applied at the next restart; off, the cfos package is never imported.
    CfosModbus=("bool", 0, 0, False),  # a Power Brain wallbox: Modbus TCP server and /cnf
    CfosModbusPort=("int", 1, 65535, 4701),
    CfosTimeoutS=("int", 5, 3600, 120),  # the manager's silence before the fallback
    CfosFallbackA=("int", 0, 80, 6),  # the cFos limit then; 0 pauses
    CfosUrl=("url", 0, 128, ""),  # HTTP input: the Charging Manager to report to; "" = off
    CfosDevId=("id", 0, 16, "E1"),  # our device id there
    CfosPassword=("secret", 1, 64, ""),  # its admin password (Basic auth), "" none
    # MQTT (docs/mqtt.md), applied at the next restart; "" = off, and the mqtt package is never imported.
    MqttBroker=("host", 0, 63, ""),
    MqttPort=("int", 1, 65535, 1883),
    MqttUser=("str", 0, 64, ""),
    MqttPassword=("secret", 1, 64, ""),
    MqttTls=("bool", 0, 0, False),
    MqttCaCert=("pem", 0, 1800, ""),  # PEM CA certificate the broker's must chain to ("": the system's CAs)
    MqttPrefix=("topic", 0, 64, ""),  # "" = evse/<the MAC's 12 hex digits>
    MqttIntervalS=("int", 1, 3600, 5),  # state is published on change, at most this often
    MqttHomeAssistant=("bool", 0, 0, True),  # discovery + state + commands
    MqttJosev=("bool", 0, 0, False),  # the charging station's side of Josev's API
    MqttEverest=("int", 0, 2, 0),  # 0 off, 1 an evse_manager to EVerest, 2 EVerest's board support
)

# Meter types that are reached over IP (4-6) or steer remotely (7).
_NEEDS_IP = (4, 5, 6, 7)

def parse_address(text, default_port=502):
    """``"a.b.c.d"`` or ``"a.b.c.d:port"`` → (host, port), or None if malformed."""
    host, colon, port = text.partition(":")
    parts = host.split(".")
    if len(parts) != 4:
        return None
    for part in parts:
        if not part or len(part) > 3 or not part.isdigit() or int(part) > 255:
            return None
    if not colon:
        return host, default_port
    if not port.isdigit() or len(port) > 5 or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def parse_http_url(text):
    """``"http://host[:port][/path]"`` → (host, port, path without a trailing
    slash), or None if malformed. Plain HTTP only: the charger holds no CA
    certificates, and update bundles are signed instead."""
    if not text.startswith("http://"):
        return None
    hostport, _, path = text[7:].partition("/")
    return parse_host_path(hostport, path, 80, "?#%")


def parse_host_path(hostport, path, default_port, forbidden):
    """A URL's ``host[:port]`` and ``path`` (after its first slash) → (host,
    port, "/path" without a trailing slash), or None if malformed: a host
    name of letters, digits, dots and dashes, a port in range, and no
    control character, space or one of ``forbidden`` in the path."""
    host, colon, port = hostport.partition(":")
    if not host or len(host) > 63 or not all(c.isalpha() or c.isdigit() or c in ".-" for c in host):
        return None
    if colon and not (port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536):
        return None
    for c in path:
        if ord(c) <= 32 or c in forbidden:
            return None
    return host, int(port) if colon else default_port, ("/" + path).rstrip("/")


def public(values):
    """Of the settings ``values`` (a ConfigStore's), everything a GET may
    show, as (key, value) pairs: no secret, only whether one is set."""
    for key in SCHEMA:
        if SCHEMA[key][0] != "secret":
            yield key, values[key]
    yield "AdminPasswordSet", bool(values["AdminPasswordHash"])
    yield "WiFiPasswordSet", bool(values["WiFiPassword"])
    yield "OcppAuthKeySet", bool(values["OcppAuthKey"])
    yield "CfosPasswordSet", bool(values["CfosPassword"])
    yield "MqttPasswordSet", bool(values["MqttPassword"])


def _check(key, value):
    """None if ``value`` suits ``key``, else the reason it does not."""
    kind, lo, hi, _ = SCHEMA[key]
    if kind == "bool":
        if not isinstance(value, bool):
            return "must be true or false"
        return None
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "must be a number"
        if value != int(value):
            return "must be a whole number"
        if not lo <= value <= hi:
            return "must be between %d and %d" % (lo, hi)
        return None
    if not isinstance(value, str):
        return "must be a string"
    if kind == "addr":
        if value and not parse_address(value):
            return "must be an IPv4 address like 192.168.0.30, optionally with a port: 192.168.0.30:502"
        return None
    if kind == "url":
        if len(value) > hi or value and not parse_http_url(value):
            return "must be \"\" or an http:// URL of at most %d characters, like http://192.168.0.10:8000" % hi
        return None
    if kind in ("ws", "pem", "id"):
        from app.ocppsettings import check  # only for an OCPP key: no heap at boot

        return check(kind, value, hi)
    if kind in ("host", "topic"):
        if not value:
            return None  # off, or the default: a stored "" loads nothing
        from app.mqttsettings import check  # only for an MQTT key: no heap at boot

        return check(kind, value, hi)
    if kind == "enum":
        if value not in lo:
            return "must be one of " + ", ".join(lo)
        return None
    if kind == "secret" and value == "":
        return None  # clears it
    if not lo <= len(value) <= hi:
        return "must be %d to %d characters long" % (lo, hi)
    for ch in value:
        if ord(ch) < 32:
            return "must not contain control characters"
    return None


class ConfigStore:
    def __init__(self, path="config.json", fixed=None):
        self.path = path
        # Settings the hardware decides (LockMethod: the board file's
        # lock.type): they always read as that, and a write must agree.
        self.fixed = fixed or {}
        self.values = {}
        self.load()
        self.values.update(self.fixed)

    def load(self):
        self.values = self.defaults()
        try:
            with open(self.path) as f:
                stored = json.load(f)
            if not isinstance(stored, dict):
                raise ValueError("not a JSON object")
        except OSError:
            log.info("config: %s missing, factory defaults" % self.path)
            return
        except ValueError as e:
            log.warn("config: %s unreadable (%s), factory defaults" % (self.path, e))
            return
        for key, value in stored.items():
            if key == "AdminPasswordHash":  # only the hash of that secret is stored
                if isinstance(value, str):
                    self.values[key] = value
            elif key in SCHEMA and key != "AdminPassword":
                if _check(key, value) is None:
                    self.values[key] = int(value) if SCHEMA[key][0] == "int" else value
                else:
                    log.warn("config: stored %s=%r invalid, default kept" % (key, value))

    @staticmethod
    def defaults():
        values = {}
        for key, spec in SCHEMA.items():
            if key != "AdminPassword":
                values[key] = spec[3]
        values["AdminPasswordHash"] = ""
        return values

    def __getitem__(self, key):
        return self.values[key]

    def validate(self, changes):
        """Reasons, keyed by offending key, why ``changes`` cannot be applied."""
        errors = {}
        for key, value in changes.items():
            if key not in SCHEMA:
                errors[key] = "unknown key"
            else:
                reason = _check(key, value)
                if reason:
                    errors[key] = reason
                elif key in self.fixed and value != self.fixed[key]:
                    errors[key] = "fixed by the board file: %d" % self.fixed[key]
        for n in ("1", "2"):
            type_key = "Meter" + n + "Type"
            ip_key = "Meter" + n + "Ip"
            if type_key in errors or ip_key in errors:
                continue
            meter_type = changes.get(type_key, self.values[type_key])
            ip = changes.get(ip_key, self.values[ip_key])
            if meter_type in _NEEDS_IP and not ip:
                if type_key in changes:
                    errors[type_key] = "an IP meter type needs a valid %s in the same write or already set" % ip_key
                else:
                    errors[ip_key] = "cannot be cleared while %s is an IP type" % type_key
        if not errors:
            def merged(key):
                return changes.get(key, self.values[key])

            if merged("OcppEndpoint"):
                from app.ocppsettings import errors_together

                errors.update(errors_together(changes, merged))

            if merged("MqttBroker") or merged("MqttPassword"):
                from app.mqttsettings import errors_together

                errors.update(errors_together(changes, merged))

            if merged("CfosUrl") and not merged("CfosDevId"):
                errors["CfosDevId"] = "the HTTP input (CfosUrl) needs the device id the manager knows us by"
            if merged("CfosModbus") and merged("CfosModbusPort") == 80:
                errors["CfosModbusPort"] = "80 is the WebAPI's port"

            if merged("ControlLimit") > 0 and not 1 <= merged("Meter2Type") <= 6:
                # A limit nothing measures would be silently ignored: say so instead.
                key = "ControlLimit" if changes.get("ControlLimit", 0) > 0 else "Meter2Type"
                errors[key] = "ControlLimit needs a site meter: Meter2Type 1..6"

            on_rs485 = 1 <= merged("Meter1Type") <= 3 and 1 <= merged("Meter2Type") <= 3
            if on_rs485 and merged("Meter1Unit") == merged("Meter2Unit"):
                errors["Meter2Unit" if "Meter2Unit" in changes else "Meter1Unit"] = (
                    "meters 1 and 2 share the RS485 bus: their unit ids must differ"
                )
        return errors

    def update(self, changes, password_hash=None):
        """Validate, apply and persist ``changes``; returns the errors (empty: done).

        Nothing changes unless every key is valid and the new file is safely
        on flash. ``password_hash``: what app.password made of the new
        AdminPassword, if the caller has derived it already.
        """
        errors = self.validate(changes)
        if errors:
            return errors
        # A new dict, never a change to the current one: an answer being
        # written may be going through that one (app.webapi).
        values = dict(self.values)
        for key, value in changes.items():
            if key == "AdminPassword":
                if value and not password_hash:
                    from app.password import hash_password  # only when a password is set

                    password_hash = hash_password(value)
                values["AdminPasswordHash"] = password_hash if value else ""
            else:
                values[key] = int(value) if SCHEMA[key][0] == "int" else value
        self._save(values.items())
        self.values = values
        return {}

    def factory_reset(self):
        """Forget everything the user stored (service code FactoryDefault)."""
        values = self.defaults()
        values.update(self.fixed)
        self._save(values.items())
        self.values = values

    def _save(self, members):
        write_atomic(self.path, pieces(members))


def remove_leftovers(path="config.json"):
    """A tmp file left by a power cut mid-write is garbage: the rename never happened."""
    try:
        os.remove(path + ".tmp")
    except OSError:
        pass
