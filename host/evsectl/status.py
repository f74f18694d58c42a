"""``evsectl status``: a charger's state at a glance, read from its WebAPI.

    evsectl status --host 192.168.1.50 [--watch [SECONDS]]

Plain GETs, which need no password: Status (state, current, power, energy,
session), SystemInfo (GeneralInfo says what a fault is about), SystemConfig
(which meters are configured) and Meter1/Meter2 (their registers, when the
firmware has them: a meter with failed requests and no valid reading is
dead, and the table says where to look). ``--watch``
redraws the table every few seconds until Ctrl-C, and keeps trying while
the charger is unreachable, e.g. restarting.
"""

import http.client
import json
import sys
import time
from urllib.parse import urlsplit

from evsectl.errors import UserError

# EvseState as the WebAPI numbers it, with the meaning the WebAPI guide gives.
STATES = (
    ("EVSE_WAITING", "starting up, self test"),
    ("EVSE_IDLE_A1_A2", "no vehicle"),
    ("EVSE_RELAY_ERR_F", "contactor fault (welded or not closing)"),
    ("EVSE_EPO_F", "emergency stop"),
    ("EVSE_EV_CONNECTED_B1_B2", "vehicle connected, not charging"),
    ("EVSE_EV_CHARGE_C1_C2", "vehicle requests or receives charge"),
    ("EVSE_EV_VENT_D1_D2", "vehicle requests charge with ventilation"),
    ("EVSE_EV_DIODE_ERR", "vehicle diode missing"),
    ("EVSE_EV_ERR_E", "CP shorted to PE or vehicle error"),
    ("EVSE_EV_GENERAL_ERR", "fault"),
    ("EVSE_PP_ERR_F", "cable rating unreadable"),
    ("EVSE_LOCK_ERR_F", "plug lock failed"),
)
TIMEOUT_S = 5


class StatusError(UserError):
    """The charger could not be read; said in one line."""


def base_url(host):
    """``host``, ``host:port`` or ``http://host:port`` as ``http://host:port``."""
    parts = urlsplit(host if "//" in host else "http://" + host)
    if parts.scheme != "http" or not parts.hostname:
        raise StatusError("--host takes HOST or HOST:PORT, not %r" % host)
    try:
        port = parts.port or 80
    except ValueError:
        raise StatusError("--host %r has a bad port" % host)
    return "http://%s:%d" % (parts.hostname, port)


def get(base, name):
    """GET /webapi/v1/<name> as a dict; None if this firmware has no such endpoint."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT_S)
    url = base + "/webapi/v1/" + name
    try:
        conn.request("GET", "/webapi/v1/" + name)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as e:  # no answer, or one cut short
        raise StatusError("cannot reach %s (%s)" % (url, getattr(e, "strerror", None) or e))
    finally:
        conn.close()
    if response.status == 404:
        return None
    if response.status != 200:
        raise StatusError("%s answered %d %s" % (url, response.status, response.reason))
    try:
        return json.loads(body)
    except ValueError:
        raise StatusError("%s answered something that is not JSON" % url)


def read(base):
    status = get(base, "Status")
    if status is None:
        raise StatusError("%s has no WebAPI v1 (no /webapi/v1/Status)" % base)
    return {"status": status, "info": get(base, "SystemInfo") or {}, "config": get(base, "SystemConfig") or {},
            "meter1": get(base, "Meter1"), "meter2": get(base, "Meter2")}


def _kw(watts):
    return "%.2f kW" % (watts / 1000)


def render(base, reading):
    """The table, as text."""
    s, info = reading["status"], reading["info"]
    state = s["EvseState"]
    name, meaning = STATES[state] if 0 <= state < len(STATES) else ("state %d" % state, "unknown")
    current = "%d A offered, %s" % (s["ActualCurrent"], "three-phase" if s["ThreePhaseCharging"] else "single-phase")
    if s.get("PPCodedCurrent"):
        current += "; cable rated %d A" % s["PPCodedCurrent"]
    power = _kw(s["ActualPower"])
    if s.get("ActualPowerAvailable"):
        power += " (available %s)" % _kw(s["ActualPowerAvailable"])
    energy = "%.3f kWh" % (s["ActualEnergy"] / 3600000)
    if s.get("ActualEnergyEstimated"):
        energy += " (estimated)"
    rows = [
        ("charger", "%s  firmware %s  WiFi %s" % (base, s["SystemVersion"], s["WiFiInfo"])),
        ("state", "%s (%d): %s" % (name, state, meaning)),
        ("charging", "%s, boost %s, auto start %s" % ("started" if s["ChargerStarted"] else "stopped",
                                                     "on" if s["ChargeBoosted"] else "off",
                                                     "on" if s["AutoStartAllowed"] else "off")),
        ("current", current),
        ("power", power),
        ("energy", energy),
        ("session", s["ActualDuration"]),
        ("meters", _meter(1, reading)),
        ("", _meter(2, reading)),
    ]
    if info.get("GeneralInfo"):
        rows.append(("health", info["GeneralInfo"]))
    registers = _registers(reading, 1)
    for i, (address, reg) in enumerate(sorted(registers.items())):
        rows.append(("meter 1" if i == 0 else "", "%-36s %12s  %s" % (reg.get("Desc", address), _number(reg.get("Value")),
                                                                       reg.get("DataStatus", ""))))
    return "".join("%-10s %s\n" % row for row in rows)


def _registers(reading, n):
    return ((reading.get("meter%d" % n) or {}).get("Meter%d" % n) or {}).get("ModbusData") or {}


def _meter(n, reading):
    """Meter ``n``'s failed requests (since boot or its settings last
    changed), and why a dead meter may be dead: the firmware counts every
    failure alike, a timeout, a CRC error or an answer from another unit."""
    kind = reading.get("config", {}).get("Meter%dType" % n)
    if kind == 0:
        return "meter %d: none (Meter%dType 0)" % (n, n)
    if n == 2 and kind == 7:
        return "meter 2: remote control (Meter2Type 7)"
    errors = reading["status"]["Meter%dStatus" % n]
    text = "meter %d: %d failed requests" % (n, errors)
    registers = _registers(reading, n).values()
    if errors and registers and not any(r.get("DataStatus") == "Valid" for r in registers):
        where = "wiring, MeterBaud, MeterFraming" if kind in (1, 2, 3) else "Meter%dIp" % n
        text += ", nothing read: no answer, wrong Meter%dUnit or CRC errors (check %s)" % (n, where)
    return text


def _number(value):
    return "%.3f" % value if isinstance(value, float) else str(value)


def run(host, watch=None, count=None, out=sys.stdout):
    """Print the table once, or every ``watch`` seconds (``count`` times, or until Ctrl-C)."""
    base = base_url(host)
    if watch is not None and watch <= 0:
        raise StatusError("--watch takes a number of seconds above 0")
    if count is not None and watch is None:
        raise StatusError("--count goes with --watch (--watch --count %d)" % count)
    if watch is None:
        out.write(render(base, read(base)))
        return 0
    clear = "\033[H\033[J" if out.isatty() else "\n"
    shown = 0
    try:
        while count is None or shown < count:
            try:
                table = render(base, read(base))
            except StatusError as e:
                table = "%s\n" % e
            out.write(clear + table + "(every %g s; Ctrl-C ends)\n" % watch)
            out.flush()
            shown += 1
            if count is None or shown < count:
                time.sleep(watch)
    except KeyboardInterrupt:
        pass
    return 0


def add_parser(sub):
    s = sub.add_parser("status", help="show a charger's state, power, energy and meters (WebAPI)")
    s.add_argument("--host", required=True, help="the charger: HOST or HOST:PORT (port 80 by default)")
    s.add_argument("--watch", nargs="?", type=float, const=2.0, metavar="SECONDS",
                   help="refresh every SECONDS (default 2) until Ctrl-C")
    s.add_argument("--count", type=int, help="with --watch: stop after this many tables")
    s.set_defaults(func=_run)


def _run(args):
    return run(args.host, args.watch, args.count)
