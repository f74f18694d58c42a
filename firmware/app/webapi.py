"""WebAPI v1 of the controller this firmware replaces, key for key.

    GET  /webapi/v1/Status         charger state, current, power, session
    POST /webapi/v1/EvseCtrl       ChargeStartToggle, ChargeBoostToggle, EVSEPowerAvailable
    GET  /webapi/v1/Meter1, Meter2 meter registers
    GET  /webapi/v1/SystemConfig   settings (never a secret)
    POST /webapi/v1/SystemConfig   settings, all or nothing
    GET  /webapi/v1/SystemInfo     version, network, heap, health, update state
    POST /webapi/v1/SystemInfo     service codes and update toggles
    POST /ota/v1/Update            {"Server": url}: update from that server now (evsectl ota push)

Bad input is answered 400 with ``{"Errors": {key: reason}}`` and changes
nothing. With an admin password set, every POST needs HTTP Basic auth (user
``admin``); GETs stay open, as in the original.
"""

import json

try:
    import binascii
except ImportError:  # pragma: no cover
    binascii = None

from microdot import Microdot, Request

from app import log
from app.config import parse_http_url, public, SCHEMA
from app.jsonstream import pieces, size

API = "/webapi/v1/"
OTA = "/ota/v1/"
MAX_BODY = 2048

Request.max_content_length = MAX_BODY

# Objects are written dict(Key=...): interned keys, no heap (see app.config.SCHEMA).
_EVSECTRL = dict(ChargeStartToggle="bool", ChargeBoostToggle="bool", EVSEPowerAvailable="number")
_SYSINFO = dict(
    SCode="str",
    Scode="str",  # the original's example spells it so
    SCodeData="str",
    UpdateCheckToggle="bool",
    UpdateRunToggle="bool",
)
SERVICE_CODES = ("Reset", "FactoryDefault", "WiFiSetToAP", "ResetMeterEnergy")


def rssi_percent(dbm):
    """Signal quality the way the original shows it: linear from -100 dBm
    (0 %) to -25 dBm (100 %), which is what its example's "-49dB/68%" fits.
    0 dBm and above is no reading (not in station mode): 0 %."""
    if dbm >= 0:
        return 0
    return max(0, min(100, (dbm + 100) * 4 // 3))


def duration_text(seconds):
    return "%02dh:%02dm:%02ds" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def _error(status, errors):
    return {"Errors": errors}, status


def _answer(members):
    """A 200 answer holding the JSON object of ``members`` ((key, value)
    pairs, any iterable that can be gone through twice and gives the same
    pairs each time), written member by member (app.jsonstream): no answer
    needs its whole text in the heap, in one piece, let alone twice (as
    text and as bytes)."""
    headers = {"Content-Type": "application/json; charset=UTF-8", "Content-Length": str(size(members))}
    return pieces(members), 200, headers


class _SystemConfig:
    """SystemConfig's members at one instant, to be gone through twice (see
    _answer): the settings are one dict, which a write replaces rather than
    changes."""

    def __init__(self, charger):
        self.now = charger.clock.uptime_ms()
        self.version = charger.version
        self.values = charger.config.values

    def __iter__(self):
        yield "TimeStamp", self.now
        yield "SystemVersion", self.version
        yield from public(self.values)


def _drop_read_only(data, charger):
    """Take the members only a GET shows out of a SystemConfig write; the
    errors for those that would change something that cannot be.

    A client may GET the settings, change one and POST the whole object
    back: those members are accepted and ignored while they say what a GET
    says now (TimeStamp: the time of that GET, whatever it is).
    """
    errors = {}
    for key in data:
        if key not in SCHEMA:
            break
    else:
        return errors  # settings only: nothing to look at (the common write, and the heap is tight)
    for key, now in _SystemConfig(charger):
        if key in data and key not in SCHEMA:  # not a setting: shown only
            value = data.pop(key)
            if key == "TimeStamp":
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            else:
                ok = value == now and type(value) is type(now)
            if not ok:
                errors[key] = "read-only: send it back unchanged"
    return errors


def _body(req):
    """The request's JSON object, or an error response."""
    try:
        data = json.loads(req.body.decode() if req.body else "")
    except (ValueError, UnicodeError):
        return None, _error(400, {"body": "malformed JSON"})
    if not isinstance(data, dict):
        return None, _error(400, {"body": "must be a JSON object"})
    return data, None


def _check_types(data, spec):
    errors = {}
    for key, value in data.items():
        kind = spec.get(key)
        if kind is None:
            errors[key] = "unknown key"
        elif kind == "bool" and not isinstance(value, bool):
            errors[key] = "must be true or false"
        elif kind == "str" and not isinstance(value, str):
            errors[key] = "must be a string"
        elif kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
            errors[key] = "must be a number"
    return errors


def client_ip(req):
    """The client's IPv4 address. MicroPython's unix port gives the raw
    sockaddr (family, port, address bytes) where CPython and the ESP32 give
    a (host, port) tuple."""
    addr = req.client_addr
    if isinstance(addr, (bytes, bytearray)):
        return "%d.%d.%d.%d" % tuple(addr[4:8])
    return addr[0]


def _authorized(req, config):
    if not config["AdminPasswordHash"]:
        return True
    header = req.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = binascii.a2b_base64(header[6:]).decode().partition(":")
    except (ValueError, UnicodeError):
        return False
    return user == "admin" and config.check_password(password)


class Server(Microdot):
    """Microdot, closing the connection whatever goes wrong while answering.

    Microdot catches what a handler raises, but not what writing the answer
    raises: a MemoryError there would end the connection's task with the
    socket still open, and the client would wait until the collector
    finalised it."""

    async def handle_request(self, reader, writer):
        try:
            await super().handle_request(reader, writer)
        except Exception as e:  # MemoryError included
            try:
                await writer.aclose()
                log.error("web: answering a request failed", e)
            except Exception:  # out of memory even for that: the socket is closed or will be
                pass


class Endpoints:
    """The endpoints under one path prefix, served by a single microdot route.

    Each microdot route holds a URL pattern and its handler entry, some 430
    bytes of heap on the unix port (half that on an ESP32); the firmware's
    twenty endpoints as one route per prefix leave about 7 KB to the
    charger. Register handlers with ``@endpoints.get("Status")`` and
    ``@endpoints.post(...)``; a name that exists for another method is
    answered 405, any other 404, as microdot itself would.
    """

    def __init__(self, app, prefix):
        self.handlers = {}
        app.route(prefix + "<name>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])(self.dispatch)

    def get(self, name):
        return self._add("GET", name)

    def post(self, name):
        return self._add("POST", name)

    def _add(self, method, name):
        def register(handler):
            self.handlers[(method, name)] = handler
            return handler

        return register

    async def dispatch(self, req, name):
        method = "GET" if req.method == "HEAD" else req.method  # microdot sends HEAD's body nowhere
        handler = self.handlers.get((method, name))
        if handler is not None:
            answer = await handler(req)
            return _answer(answer.items()) if isinstance(answer, dict) else answer
        if ("GET", name) in self.handlers or ("POST", name) in self.handlers:
            return _error(405, {"method": "%s not allowed here" % req.method})
        return _error(404, {"path": "no such endpoint"})


def create(charger):
    """The Microdot application serving ``charger`` (an app.runtime.Charger)."""
    app = Server()
    k = charger.kernel
    config = charger.config

    @app.before_request
    async def require_auth(req):
        if req.method == "POST" and (req.path.startswith(API) or req.path.startswith(OTA)) and not _authorized(req, config):
            return {"Errors": {"Authorization": "admin password required"}}, 401, {
                "WWW-Authenticate": 'Basic realm="EVSE"'
            }

    api = Endpoints(app, API)

    @app.errorhandler(404)
    async def not_found(req):
        return _error(404, {"path": "no such endpoint"})

    @app.errorhandler(405)
    async def wrong_method(req):
        return _error(405, {"method": "%s not allowed here" % req.method})

    @app.errorhandler(413)
    async def too_large(req):
        return _error(413, {"body": "larger than %d bytes" % MAX_BODY})

    @app.errorhandler(Exception)
    async def internal(req, exc):
        log.error("web: %s %s failed" % (req.method, req.path), exc)
        return _error(500, {"server": "internal error: %s" % type(exc).__name__})

    @api.get("Status")
    async def status(req):
        s = k.session
        return dict(
            TimeStamp=charger.clock.uptime_ms(),
            SystemVersion=charger.version,
            WiFiInfo="%s:%d%%" % (charger.wifi.ssid(), rssi_percent(charger.wifi.rssi())),
            EvseState=k.state,
            ThreePhaseCharging=k.settings.three_phase,
            ActualCurrent=k.current_a,
            PPCodedCurrent=k.pp_a,
            ActualPower=k.power_w,
            ActualPowerAvailable=charger.power_available_w(),
            ActualEnergy=s.energy_ws,
            ActualDuration=duration_text(s.duration_s),
            ActualDurationTotalSeconds=s.duration_s,
            AutoStartAllowed=k.settings.auto_start,
            StartStopAllowed=k.start_stop_allowed,
            BoostAllowed=k.boost_allowed,
            ChargerStarted=k.started,
            ChargeBoosted=k.boosted,
            Meter1Status=charger.metering.errors(1),
            Meter2Status=charger.metering.errors(2),
            # Beyond the original: the energy is estimated until a meter measures it.
            ActualEnergyEstimated=s.estimated,
        )

    @api.post("EvseCtrl")
    async def evse_ctrl(req):
        data, err = _body(req)
        if err:
            return err
        errors = _check_types(data, _EVSECTRL)
        power = data.get("EVSEPowerAvailable")
        if not errors and power is not None and not 0 <= power <= 1000000:
            errors["EVSEPowerAvailable"] = "must be between 0 and 1000000 W"
        if errors:
            return _error(400, errors)
        if power is not None and not charger.metering.may_steer(client_ip(req)):
            return _error(403, {"EVSEPowerAvailable": "only the remote control system at Meter2Ip may set it"})
        # Well-formed, but is it possible now? (409: try again later)
        if data.get("ChargeStartToggle") and not k.start_stop_allowed:
            errors["ChargeStartToggle"] = "not possible now: " + charger.why_not_startable()
        if data.get("ChargeBoostToggle") and not (k.boost_allowed or k.boosted):
            errors["ChargeBoostToggle"] = "not possible now: charging is not started"
        if errors:
            return _error(409, errors)
        result = {}
        if data.get("ChargeStartToggle"):
            k.toggle_start()
            result["ChargerStarted"] = k.started
        if data.get("ChargeBoostToggle"):
            k.toggle_boost()
            result["ChargeBoosted"] = k.boosted
        if "EVSEPowerAvailable" in data:
            charger.metering.set_power_available(power, charger.clock.uptime_ms())
            result["ActualPowerAvailable"] = charger.power_available_w()
        return result

    def meter(n):
        async def handler(req):
            now = charger.clock.uptime_ms()
            return {"Meter%d" % n: {"TimeStamp": now, "ModbusData": charger.metering.data(n, now)}}

        return handler

    api.get("Meter1")(meter(1))
    api.get("Meter2")(meter(2))

    @api.get("SystemConfig")
    async def get_config(req):
        return _answer(_SystemConfig(charger))

    @api.post("SystemConfig")
    async def post_config(req):
        data, err = _body(req)
        if err:
            return err
        errors = _drop_read_only(data, charger)
        if errors:
            errors.update(config.validate(data))  # every reason at once
            return _error(400, errors)
        # Only what differs is applied: a client writing back the whole
        # object must not rebuild the meters (their readings would go stale).
        changed = [key for key in data if key not in config.values or config.values[key] != data[key]]
        errors = config.update(data)
        if errors:
            return _error(400, errors)
        charger.apply_config(changed)
        log.info("config: %s written" % ",".join(sorted(changed)))
        return _answer(_SystemConfig(charger))

    @api.get("SystemInfo")
    async def get_info(req):
        wifi = charger.wifi
        rssi = wifi.rssi()
        return dict(
            TimeStamp=charger.clock.uptime_ms(),
            SystemVersion=charger.version,
            ProductType=charger.board["product_type"],
            MAC=wifi.mac(),
            WiFiInfo="%s,RSSI:%ddB/%d%%" % (wifi.ssid(), rssi, rssi_percent(rssi)),
            HeapInfo=charger.heap_info(),
            GeneralInfo=charger.general_info(),
            OTAMsg=charger.ota_message(),
            OTACheckAllowed=charger.ota_refusal(False) is None,
            OTAUpdateAllowed=charger.ota_available is not None and charger.ota_refusal(True) is None,
        )

    @api.post("SystemInfo")
    async def post_info(req):
        data, err = _body(req)
        if err:
            return err
        errors = _check_types(data, _SYSINFO)
        code = data.get("SCode", data.get("Scode"))
        if "SCode" in data and "Scode" in data and data["SCode"] != data["Scode"]:
            errors["Scode"] = "differs from SCode"
        elif code is not None and not errors and code not in SERVICE_CODES:
            errors["SCode"] = "unknown service code; one of " + ", ".join(SERVICE_CODES)
        if errors:
            return _error(400, errors)
        if code == "WiFiSetToAP" and charger.wifi.mode != "sta":
            return _error(409, {"SCode": "WiFi is not in station mode"})
        if code == "ResetMeterEnergy" and not charger.metering.reset_kept_energy(charger.clock.uptime_ms()):
            return _error(409, {"SCode": "no meter whose resettable energies the charger keeps is being read"})
        result = {}
        for toggle, action in (("UpdateCheckToggle", "check"), ("UpdateRunToggle", "run")):
            if data.get(toggle):
                reason = charger.ota_refusal(action == "run")
                if reason:
                    charger.ota_msg = reason
                else:
                    charger.start_ota(action)
                result[toggle] = reason or "Performing"
        if code == "Reset":
            charger.restart_soon()
            result["Reset"] = "Performing"
        elif code == "FactoryDefault":
            config.factory_reset()
            charger.restart_soon()
            result["FactoryDefault"] = "Performing"
        elif code == "WiFiSetToAP":
            charger.wifi.set_ap()
            result["WiFiSetToAP"] = "Performing"
        elif code == "ResetMeterEnergy":
            result["ResetMeterEnergy"] = "Done"
        return result

    ota = Endpoints(app, OTA)

    @ota.post("Update")
    async def ota_update(req):
        data, err = _body(req)
        if err:
            return err
        server = data.get("Server")
        if set(data) != {"Server"} or not isinstance(server, str) or not parse_http_url(server):
            return _error(400, {"Server": "must be the only key, an http:// URL like http://192.168.0.10:8000"})
        reason = charger.ota_refusal(True, server)
        if reason:
            return _error(409, {"Server": reason})
        charger.start_ota("run", server)
        return {"Update": "Performing"}

    return app
