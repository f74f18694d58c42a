"""The Power Brain's registers over HTTP, as cFos's HTTP API maps them:
``/cnf?cmd=modbus`` on the WebAPI's server (with CfosModbus on).

    GET /cnf?cmd=modbus&device=evse&read=8092            2         one register
    GET /cnf?cmd=modbus&device=evse&read=8062d           -1        d: 32 bits, q: 64
    GET /cnf?cmd=modbus&device=evse&read=8016s           "EVSE"    s: a string
    GET /cnf?cmd=modbus&device=evse&read=8002&count=10   [1, ...]  n values
    GET /cnf?cmd=modbus&device=meter1&read=all           {"8000d": ..., "8016s": ...}
    GET /cnf?cmd=modbus&device=evse&write=8093&value=100       "ok"
    GET /cnf?cmd=modbus&device=evse&write=8093&values=[100,1]  "ok"  (8093, 8094)

GET or POST alike. ``device``: ``evse`` (the charger, cfos.registers)
or ``meter1``/``meter2`` (our meters, read only). A write needs the admin
password (HTTP Basic auth, user ``admin``) once one is set, as every POST
of the WebAPI does. Every answer is JSON: the value, ``"ok"``, or, with
status 400, a string saying why not (``"bad modbus register size"`` for a
suffix that does not fit the register, as cFos words it; the Modbus
exception otherwise). A refused write changes nothing.
"""

import json

from cfos.registers import ModbusError, MAX_READ, SIZE, STR, SUFFIX, decode, encode, entries, suffix
from cfos.modbus_server import MAX_WRITE


def _why(code):
    if code == 2:
        return "modbus exception 2: no such register here"
    if code == 3:
        return "modbus exception 3: value out of range"
    return "modbus exception %d" % code


def _address(text):
    """``"8062d"`` → (8062, type of "d"), or None."""
    kind = SUFFIX.find(text[-1]) if text and text[-1] in "dqs" else 0
    digits = text[:-1] if kind else text
    if not digits.isdigit() or len(digits) > 5 or int(digits) > 0xFFFF:
        return None
    return int(digits), kind


def _int(text):
    """The whole number ``text`` spells (an optional minus, at most 20
    digits), or None."""
    t = text[1:] if text[:1] == "-" else text
    return int(text) if t.isdigit() and len(t) <= 20 else None


def _whole(text, lo, hi):
    n = _int(text)
    return n if n is not None and lo <= n <= hi else None


def every(regs):
    """``read=all``: ("<address><suffix>", value) of every register, one by
    one (written as they come: the answer's text is never whole in the heap)."""
    for addr, size, kind in entries(regs.table):
        yield "%d%s" % (addr, suffix(kind)), decode(regs.read(addr, size), kind)


def read(regs, what, count):
    """The value(s) of ``read=<what>`` with ``count`` (None: not given);
    ``read=all`` as a dict (the route streams every() instead)."""
    if what == "all":
        return dict(every(regs))
    parsed = _address(what)
    if parsed is None:
        raise ValueError("read must be a register address, with d, q or s after it, or all")
    addr, kind = parsed
    if kind == STR:
        entry = regs.find(addr)
        size = count or (entry[1] if entry else 1)
        return decode(regs.read(addr, size), STR)
    size = SIZE[kind]
    n = count or 1
    if n * size > MAX_READ:
        raise ModbusError(3)
    words = regs.read(addr, n * size)
    values = [decode(words[i * size:(i + 1) * size], kind) for i in range(n)]
    return values if count else values[0]


def write(regs, what, value, values, now):
    """``write=<what>`` with ``value=`` or ``values=``: None once written,
    or the seed's string for a suffix that does not fit the register
    (nothing written then; nor when it raises)."""
    parsed = _address(what)
    if parsed is None:
        raise ValueError("write must be a register address, with d, q or s after it")
    addr, kind = parsed
    if values is not None:
        try:
            words = json.loads(values)
        except ValueError:
            words = None
        if kind or not isinstance(words, list) or not 1 <= len(words) <= MAX_WRITE:
            raise ValueError("values must be a JSON array of 1 to %d register values" % MAX_WRITE)
        for w in words:
            if isinstance(w, bool) or not isinstance(w, int):
                raise ValueError("values must be whole numbers")
            if not 0 <= w <= 0xFFFF:
                raise ModbusError(3)
    elif value is None:
        raise ValueError("write needs value= or values=")
    elif kind == STR:
        entry = regs.find(addr)
        if entry is None or entry[2] != STR:
            return "bad modbus register size"
        words = encode(value, entry[1], STR)
    else:
        entry = regs.find(addr)
        if kind and (entry is None or entry[1] != SIZE[kind]):
            return "bad modbus register size"
        size = SIZE[kind]
        bits = 16 * size
        n = _int(value)
        if n is None:
            raise ValueError("value must be a whole number")
        if not (-(1 << (bits - 1)) if size > 1 else 0) <= n < 1 << bits:
            raise ModbusError(3)
        words = encode(n, size, kind)
    regs.write(addr, words, now)
    return None


def _reply(value, status=200, headers=None):
    from microdot import Response

    h = {"Content-Type": "application/json"}
    if headers:
        h.update(headers)
    return Response(json.dumps(value), status, h)


async def handle(req, charger, devices):
    """The answer to a /cnf request (app.webapi's microdot request) from
    ``devices``: the Registers of the wallbox and meters 1 and 2."""
    from app.webapi import _answer, _authorized

    args = req.args
    if args.get("cmd") != "modbus":
        return _reply("cmd must be modbus: the register mapping is all this charger serves", 400)
    names = ("evse", "meter1", "meter2")
    if args.get("device") not in names:
        return _reply("device must be evse, meter1 or meter2", 400)
    regs = devices[names.index(args.get("device"))]
    what = args.get("write")
    if what is not None:
        stored = charger.manager.settings()["AdminPasswordHash"]
        if stored:
            from app.password import guesses

            wait = guesses.wait_s()
            if wait:
                return _reply("too many wrong passwords; try again in %d s" % wait, 429, {"Retry-After": str(wait)})
            if not await _authorized(req, stored, guesses):
                return _reply("admin password required", 401, {"WWW-Authenticate": 'Basic realm="EVSE"'})
    try:
        if what is not None:
            why = write(regs, what, args.get("value"), args.get("values"), charger.clock.ticks())
            return _reply(why, 400) if why else _reply("ok")
        what = args.get("read")
        if what is None:
            return _reply("read= or write= is needed", 400)
        count = args.get("count")
        if count is not None:
            count = _whole(count, 1, MAX_READ)
            if count is None:
                return _reply("count must be 1 to %d" % MAX_READ, 400)
        if what == "all":
            return _answer(every(regs))
        return _reply(read(regs, what, count))
    except ModbusError as e:
        return _reply(_why(e.code), 400)
    except ValueError as e:
        return _reply(str(e), 400)
