"""The HTTP input mode: the charger reports itself to a cFos Charging
Manager as an "HTTP Input" wallbox and does what the answer says
(CfosUrl, CfosDevId, CfosPassword).

Every 3 s (_PUSH_MS) of the charger's clock:

    POST <CfosUrl>/cnf?cmd=set_ajax_evse&dev_id=<CfosDevId>      (Basic auth admin:CfosPassword)
    {"state": 3, "max_charging_current": 16000, "current": [15900, 0, 0],
     "total_energy": 12345, "model": "EVSE-ESP32 0.1.0", "rfid": ""}
    -> {"device_enabled": true, "charging_enabled": true, "paused": false,
        "charging_current": 10000}

in the seed's units: state 1 A (waiting), 2 B (vehicle), 3 C (charging),
4 D (charging, ventilated), 5 E (error); currents in mA, energy in Wh
(meter 1's import counter; left out without meter 1). The answer steers
through cfos.steer, the cFos source: ``charging_current`` (mA, rounded down
to whole amperes) is the limit, 0 while ``charging_enabled`` is false or
``paused`` true; ``device_enabled`` false disables the charger.

A manager that does not answer within 5 s (_TIMEOUT_MS), answers anything but 200,
or answers what is not that object with those four members of those types
(``charging_current`` 0..80000) changes nothing: its last word lapses
CfosTimeoutS after it was given, and the charger falls back to CfosFallbackA.
"""

import asyncio
import json

from app import log
from app.aio import sleep_ms, wait_for_ms
from app.config import parse_http_url
from charger.limits import CABLE, RATING, SETTINGS
from cfos import measure
from evse.compat import const, ticks_diff

_PUSH_MS = const(3000)  # as often as the manager's own cycle (3 s)
_TIMEOUT_MS = const(5000)  # one report: connect, send, the whole answer
_MAX_ANSWER = const(1024)  # bytes of headers and body together
_MAX_CURRENT_MA = const(80000)
_LOOK_MS = const(250)  # how often the clock is looked at (virtual time moves in jumps)

# The seed's state by the kernel's EvseState (evse.states, 0..11): 1 A, 2 B,
# 3 C, 4 D, 5 error (a bytes literal: no heap).
_STATE = b"\x01\x01\x05\x05\x02\x03\x04\x05\x05\x05\x05\x05"
_STATE_ERROR = const(5)


def report(m, model):
    """The body of set_ajax_evse: the charger now (``m``: its EvseManager)."""
    most = -1
    for source in (SETTINGS, CABLE, RATING):
        a = m.limits.get(source)
        if a >= 0 and (most < 0 or a < most):
            most = a
    body = dict(
        state=_STATE[m.state] if 0 <= m.state < len(_STATE) else _STATE_ERROR,
        max_charging_current=most * 1000,
        current=[int(a * 1000 + 0.5) for a in measure.phase_currents(m)],
        model=model,
        rfid=m.id_tag or "",
    )
    wh = measure.energy_wh(m)
    if wh is not None:
        body["total_energy"] = wh
    return body


def parse_answer(body):
    """(limit in 0.1 A, device enabled) from the manager's answer (bytes),
    or None if it is not what the seed describes."""
    try:
        a = json.loads(body)
    except (ValueError, UnicodeError):
        return None
    if not isinstance(a, dict):
        return None
    flags = (a.get("device_enabled"), a.get("charging_enabled"), a.get("paused"))
    ma = a.get("charging_current")
    for f in flags:
        if not isinstance(f, bool):
            return None
    if isinstance(ma, bool) or not isinstance(ma, (int, float)) or not 0 <= ma <= _MAX_CURRENT_MA:
        return None
    device, charging, paused = flags
    return (int(ma) // 100 if charging and not paused else 0), device


def _basic(password):
    import binascii

    return binascii.b2a_base64(("admin:" + password).encode()).decode().strip()


class Push:
    """The reports to the Charging Manager at CfosUrl (``run``: for ever),
    and its answers applied through ``steer``; the manager's troubles are
    logged when they start and when they end, not at every report."""

    def __init__(self, manager, steer, clock, model):
        self.m = manager
        self.steer = steer
        self.clock = clock
        self.model = model
        c = manager.settings()
        self.host, self.port, path = parse_http_url(c["CfosUrl"])
        self.path = "%s/cnf?cmd=set_ajax_evse&dev_id=%s" % (path, c["CfosDevId"])
        self.auth = _basic(c["CfosPassword"]) if c["CfosPassword"] else None
        self._ok = None  # how the last one went (logged when that changes)

    async def run(self):
        last = None
        while True:
            now = self.clock.ticks()
            self.steer.expire(now)  # the last answer's word, when the manager falls silent
            if last is None or ticks_diff(now, last) >= _PUSH_MS:
                last = now
                await self.push()
            await sleep_ms(_LOOK_MS)

    async def push(self):
        """Report once and apply the answer; True if it was applied."""
        body = json.dumps(report(self.m, self.model))
        why = None
        try:
            answer = await wait_for_ms(self._post(body), _TIMEOUT_MS)
        except asyncio.TimeoutError:
            why = "no answer within %d ms" % _TIMEOUT_MS
        except Exception as e:  # refused, reset, no heap
            why = "%s: %s" % (type(e).__name__, e)
        if why is None:
            if isinstance(answer, str):
                why = answer
            else:
                parsed = parse_answer(answer)
                if parsed is None:
                    why = "an answer that is not the seed's object: %r" % answer[:80]
        self._note(why)
        if why is not None:
            return False
        now = self.clock.ticks()
        self.steer.limit(parsed[0], now)
        self.steer.enable(parsed[1], now)
        return True

    def _note(self, why):
        ok = why is None
        if ok != self._ok:
            if ok:
                log.info("cfos: the Charging Manager at %s:%d answers" % (self.host, self.port))
            else:
                log.warn("cfos: the Charging Manager at %s:%d: %s" % (self.host, self.port, why))
            self._ok = ok

    async def _post(self, body):
        """The answer's body (bytes), or a string saying what was wrong with it."""
        r, w = await asyncio.open_connection(self.host, self.port)
        try:
            head = "POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (
                self.path, self.host, len(body))
            if self.auth:
                head += "Authorization: Basic %s\r\n" % self.auth
            w.write((head + "\r\n" + body).encode())
            await w.drain()
            data = b""
            length = -1
            end = -1
            while True:
                chunk = await r.read(256)
                if not chunk:
                    break
                data += chunk
                if len(data) > _MAX_ANSWER:
                    return "an answer of more than %d bytes" % _MAX_ANSWER
                if end < 0:
                    end = data.find(b"\r\n\r\n")
                    if end >= 0:
                        for line in data[:end].split(b"\r\n")[1:]:
                            name, _, value = line.partition(b":")
                            if name.strip().lower() == b"content-length" and value.strip().isdigit():
                                length = int(value)
                if end >= 0 and 0 <= length <= len(data) - end - 4:
                    break
            status = data.split(b" ", 2)
            if len(status) < 2 or status[1] != b"200":
                return "HTTP %s" % (status[1].decode() if len(status) > 1 else "without a status line")
            if end < 0:
                return "an answer cut short"
            return data[end + 4 : end + 4 + length] if length >= 0 else data[end + 4 :]
        finally:
            try:
                w.close()
                await w.wait_closed()
            except Exception:
                pass
