"""WebAPI v1 of the controller this firmware replaces, key for key.

    GET  /webapi/v1/Status         charger state, current, power, session
    POST /webapi/v1/EvseCtrl       ChargeStartToggle, ChargeBoostToggle, EVSEPowerAvailable
    GET  /webapi/v1/Meter1, Meter2 meter registers
    GET  /webapi/v1/SystemConfig   settings (never a secret)
    POST /webapi/v1/SystemConfig   settings, all or nothing
    GET  /webapi/v1/SystemInfo     version, network, heap, health, update state
    POST /webapi/v1/SystemInfo     service codes and update toggles
    POST /ota/v1/Update            {"Server": url}: update from that server now (evsectl ota push)
    GET  /webapi/v1/openapi.json   the OpenAPI 3.1 description of all this, from flash
    GET  /                         the charger's web page, gzipped, from flash (app.webpage)

Bad input is answered 400 with ``{"Errors": {key: reason}}`` and changes
nothing. With an admin password set, every POST needs HTTP Basic auth (user
``admin``); GETs stay open, as in the original. A change sent by a browser
from a page of another site (its Origin or Referer not this charger) is
refused 403 (_cross_site).
"""

import asyncio
import json
import os

try:
    import binascii
except ImportError:  # pragma: no cover
    binascii = None

from microdot import Microdot, Request, Response
from microdot.microdot import NoCaseDict

from app import aio, log
from app.config import parse_http_url, public, SCHEMA
from app.jsonstream import Object
from evse.compat import const

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
    pairs), written member by member into the server's buffer
    (app.jsonstream): no answer needs its text in the heap, whole or in
    pieces."""
    return Object(members), 200, {"Content-Type": _JSON}


class WriteBudget:
    """How often the settings may be written to flash: a burst of
    ``burst`` writes, then one per ``period_ms`` (a token bucket, on the
    real clock, not the simulator's virtual one).

    On an ESP32 a write erases a flash sector, which stops the CPU, and with
    it the control tick, for some 45 ms: a client writing many times a
    second would stall the tick each time. Past the budget a write is
    answered 429 with Retry-After and changes nothing, so the control loop
    spends at most one erase per period on a client's settings, however
    eager the client.
    """

    def __init__(self, burst=10, period_ms=1000):
        self.burst = burst
        self.period_ms = period_ms
        self.left = burst
        self.since = aio.ticks_ms()

    def take(self):
        """True, and one write spent, if a write may go to flash now."""
        now = aio.ticks_ms()
        gained = aio.ticks_diff(now, self.since) // self.period_ms
        if gained > 0:
            self.left = min(self.burst, self.left + gained)
            self.since = now if self.left == self.burst else aio.ticks_add(self.since, gained * self.period_ms)
        if self.left <= 0:
            return False
        self.left -= 1
        return True


class _SystemConfig:
    """SystemConfig's members at one instant (see _answer): the settings are
    one dict, which a write replaces rather than changes."""

    def __init__(self, charger):
        self.now = charger.clock.uptime_ms()
        self.version = charger.version
        self.values = charger.manager.settings()

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


# Input limits, checked before json.loads spends heap on a body (docs/webapi.md,
# "WebAPI limits"). No endpoint takes a value nested deeper than a list in
# the object; SystemConfig has 29 keys.
_MAX_DEPTH = const(3)
_MAX_VALUES = const(64)
_MAX_NUMBER = const(24)  # characters of one number: no long int is made of 400 digits
_NUMBER_CHARS = b"+-.0123456789eE"


def _limits(body):
    """The first input limit the JSON text ``body`` (bytes) breaks, as
    (key, reason) with the object's key whose value breaks it ("body" for
    the object itself), or None.

    Read byte by byte, knowing only where strings are: json.loads itself
    would build every level of ``[[[[...`` or every member of a wide
    object before it could be refused."""
    depth = values = number = 0
    in_string = escaped = False
    string = key = None  # (start, end) of the last string at depth 1; of the current key
    for i in range(len(body)):
        c = body[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == 92:  # backslash
                escaped = True
            elif c == 34:  # closing quote
                in_string = False
                string = (string, i) if depth == 1 else None
            continue
        if c in _NUMBER_CHARS:
            number += 1
            if number > _MAX_NUMBER:
                return key, "number longer than %d characters" % _MAX_NUMBER
            continue
        number = 0
        if c == 78 or c == 73:  # N, I: NaN, Infinity, which JSON lacks (CPython's json takes them)
            return key, "must be a finite number"
        if c == 34:
            in_string = True
            string = i + 1
        elif c == 58 and depth == 1:  # colon: the string before it is the key
            key = string
        elif c == 91 or c == 123:  # [ {
            depth += 1
            values += 1
            if depth > _MAX_DEPTH:
                return key, "nested deeper than %d levels" % _MAX_DEPTH
        elif c == 93 or c == 125:  # ] }
            depth -= 1
        elif c == 44:  # comma
            values += 1
        if values > _MAX_VALUES:
            return key, "more than %d values" % _MAX_VALUES
    return None


def _body(req):
    """The request's JSON object, or an error response."""
    broken = _limits(req.body)
    if broken:
        key, reason = broken
        return None, _error(400, {req.body[key[0] : key[1]].decode() if key else "body": reason})
    try:
        data = json.loads(req.body.decode() if req.body else "")
    except (ValueError, UnicodeError):
        return None, _error(400, {"body": "malformed JSON"})
    if not isinstance(data, dict):
        return None, _error(400, {"body": "must be a JSON object"})
    errors = {}
    for key, value in data.items():
        if isinstance(value, float) and value - value != 0:  # inf - inf and nan - nan are nan
            errors[key] = "must be a finite number"
    if errors:
        return None, _error(400, errors)
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


async def _authorized(req, stored, guesses):
    """Whether the request carries the admin password ``stored`` hashes; a
    wrong one counts against ``guesses`` (app.password.Limiter)."""
    header = req.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, given = binascii.a2b_base64(header[6:]).decode().partition(":")
    except (ValueError, UnicodeError):
        return False
    from app.password import check_async

    if user == "admin" and await check_async(given, stored):
        guesses.succeeded()
        return True
    guesses.failed()
    return False


def _cross_site(req):
    """The other site a browser sent ``req`` from, or None (docs/webpage.md).

    A page of any site can make its visitor's browser send a POST to the
    charger (a form, or fetch without reading the answer), and the browser
    would add credentials it holds for the charger: a cross-site request
    forgery. Browsers say where such a request comes from, in ``Origin``
    (every POST by a current browser) or at least ``Referer``, and a page
    cannot forge either; the charger's own page sends its own address, the
    one in ``Host``. A request with neither comes from no web page (curl,
    scripts, evsectl) and passes, as every WebAPI client did before."""
    where = req.headers.get("Origin") or req.headers.get("Referer")
    if where is None:
        return None
    site = where.partition("://")[2].partition("/")[0]
    if not site or site.lower() != req.headers.get("Host", "").lower():
        return where  # another site, or "null" (a sandboxed frame, a file)
    return None


# A connection's deadlines, each from the end of the stage before (docs/webapi.md,
# "WebAPI limits"): its request line, its headers, its body; then the
# answer, handler and writing together.
_LINE_MS = const(3000)
_HEADERS_MS = const(3000)
_BODY_MS = const(3000)
_ANSWER_MS = const(5000)
_EXPIRY_CHECK_MS = const(250)  # how often deadlines are looked at
_PLACE_WAIT_MS = const(50)  # how long a connection beyond the limit waits for a place
_MAX_HEAD = const(1024)  # request line and headers, bytes
_READ = const(256)  # bytes asked for at a time: a read takes that much heap before it knows

_JSON = "application/json; charset=UTF-8"

# The request headers the firmware reads; the others are dropped as the
# request is parsed. A browser sends a dozen more (User-Agent, Accept...,
# Sec-*), 0.5 to 1 KB that a request would hold in the heap for as long as
# it is answered: three browsers fetching the web page at once did not fit
# a 78k heap with them. A handler that needs another header adds it here.
_HEADERS_KEPT = ("host", "content-length", "content-type", "authorization", "origin", "referer", "if-none-match")


# The answers to a connection there is no place or no heap for, and to
# one whose answer failed before any of it was sent: literals, which stay
# in ROM with the bytecode (no heap is needed to send them).
BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json; charset=UTF-8\r\n"
    b'Content-Length: 53\r\n\r\n{"Errors": {"server": "busy, try again in a second"}}'
)
FAILED = (
    b"HTTP/1.0 500 Internal Server Error\r\nContent-Type: application/json; charset=UTF-8\r\n"
    b'Content-Length: 62\r\n\r\n{"Errors": {"server": "internal error in writing the answer"}}'
)


class Server(Microdot):
    """Microdot's routing, handlers and error handlers, behind a server
    whose every resource is bounded (the design's "Bounded everything").

    * At most ``connections`` connections at a time: one beyond them
      waits _PLACE_WAIT_MS for a place, then is answered 503 with
      ``Retry-After`` and closed.
    * Each stage of a connection has a deadline (_LINE_MS, _HEADERS_MS,
      _BODY_MS, _ANSWER_MS): a client that stalls is dropped. Answers are
      HTTP/1.0 and the connection closes after each, so no idle
      keep-alive connection holds a place.
    * The request line and headers are read _READ bytes at a time, at
      most _MAX_HEAD bytes; the body only when its Content-Length is
      within ``Request.max_content_length`` (else 413, unread).
    * The listening socket is made once and kept: whatever fails, in a
      request or in accepting one (MemoryError included), it is neither
      lost nor bound again; ``start_server`` called again after a failure
      goes on with the same socket.
    * An answer is made whole before any of it is sent: a JSON body is
      written into one reused text buffer (json.dump into an
      ``io.BytesIO`` made at start, ``buffer`` bytes, grown only by an
      answer larger than that), which measures its Content-Length and
      takes no heap (json.dumps of every member made some 7 KB of garbage
      per Status answer, three full collections of the heap). It is then
      written through one reused buffer of ``buffer`` bytes: an answer
      that fits leaves in one write. The connections share both buffers
      safely because an answer is rendered, copied and handed to the
      socket with no ``await`` in between: the stream's ``write`` sends
      what it is given or copies what the socket did not take.
    """

    def __init__(self, connections=4, buffer=768):
        super().__init__()
        self.buf = bytearray(buffer)
        self.text = aio.text_buffer(buffer)  # where a JSON answer is written before it is sent
        self.tasks = [None] * connections  # a connection's task, None: a free place
        self.deadlines = [0] * connections  # the ticks_ms its current stage ends
        self.listener = None
        self.expiry = None  # the task that drops connections past their deadline

    async def start_server(self, host="0.0.0.0", port=80):
        """Serve for ever; returns only by an exception (the caller may
        call again: the listening socket is kept)."""
        if self.listener is None:
            self.listener = aio.listen(host, port, len(self.tasks))
        if self.expiry is None or self.expiry.done():
            self.expiry = asyncio.create_task(self._expire())
        while True:
            try:
                sock, addr = await aio.accept(self.listener)
            except Exception:  # the client gave up, no file descriptor, no heap: shortly again
                await aio.sleep_ms(_EXPIRY_CHECK_MS)
                continue
            try:
                if None not in self.tasks:
                    # No place: a moment for one to free, or at least for the
                    # client's whole request to come in, which is read before
                    # the 503 (_refuse). Meanwhile no other connection is
                    # accepted; they wait in the listening socket's backlog.
                    await aio.sleep_ms(_PLACE_WAIT_MS)
                i = self.tasks.index(None)  # ValueError: still no place
                self._due(i, _LINE_MS)
                self.tasks[i] = asyncio.create_task(self._connection(i, sock, addr))
            except Exception:  # no place, or no heap for a task
                _refuse(sock)
                sock.close()

    def _due(self, i, ms):
        self.deadlines[i] = aio.ticks_add(aio.ticks_ms(), ms)

    async def _expire(self):
        while True:
            await aio.sleep_ms(_EXPIRY_CHECK_MS)
            now = aio.ticks_ms()
            for i, task in enumerate(self.tasks):
                if task is not None and aio.ticks_diff(now, self.deadlines[i]) > 0:
                    self.deadlines[i] = aio.ticks_add(now, _ANSWER_MS)  # cancelled once, not every check
                    task.cancel()

    async def _connection(self, i, sock, addr):
        """Read one request, answer it, close. Nothing raised here reaches
        the accept loop; a cancel (a deadline passed) ends it too."""
        writer = req = None
        sent = streamed = False
        try:
            reader, writer = await aio.streams(sock, addr)
            req = await self._read(i, reader, writer, addr)
            if req is None:  # the client closed first
                return
            self._due(i, _ANSWER_MS)
            if isinstance(req, str):  # malformed: why
                res = Response(*_error(400, {"request": req}))
            else:
                res = await self.dispatch_request(req)
            self._render(res)
            draining = writer.drain()  # made before any byte goes: it takes heap too
            sent = True  # from here a failure cuts the answer short
            self._write(res, writer)
            await draining
            if isinstance(res.body, FileBody) and not res.is_head:  # HEAD: the head alone
                body = res.body
                # A file streams for a while: meanwhile the request and the
                # answer (a browser's headers, 1 KB and more) are let go,
                # which three browsers fetching the web page at once on a
                # 78k heap need. The request was read whole (no drain).
                req = res = None
                streamed = True
                await body.send(writer, self.buf)
        except MemoryError:
            if not sent:
                _refuse(sock)
        except Exception as e:  # the client went away, or a failure in making or writing the answer
            if not isinstance(e, OSError):
                if not sent:
                    _refuse(sock, FAILED)
                log.error("web: answering a request failed", e)
        finally:
            self.tasks[i] = None
            if not streamed and (not isinstance(req, Request) or req.content_length > Request.max_content_length):
                _drain(sock)  # malformed, too large, or never read
            try:
                if writer is None:
                    sock.close()
                else:
                    writer.close()
                    await writer.wait_closed()
            except Exception:  # closed already
                pass

    async def _read(self, i, reader, writer, addr):
        """The request, its body read; None if the client closed first; a
        string saying why if it is malformed."""
        head = b""
        end = -1
        while end < 0:
            if len(head) >= _MAX_HEAD:
                return "request line and headers over %d bytes" % _MAX_HEAD
            part = await reader.read(min(_READ, _MAX_HEAD - len(head)))
            if not part:
                return None
            if b"\n" not in head and b"\n" in part:
                self._due(i, _HEADERS_MS)  # the request line is in
            head += part
            end = head.find(b"\r\n\r\n")
        try:
            # Line by line, as bytes: a copy of the whole head and its
            # decoding took two blocks of its size, which a fragmented heap
            # may not have when other browsers' requests are in.
            lines = head.split(b"\r\n")
            method, url, version = lines[0].decode().split()
            headers = NoCaseDict()
            for line in lines[1:]:
                if not line:
                    break  # the empty line that ends the head; the body may follow
                name, colon, value = line.partition(b":")
                if not colon:
                    raise ValueError("no colon")
                name = name.strip().decode()
                if name.lower() in _HEADERS_KEPT:
                    headers[name] = value.strip().decode()
            length = int(headers.get("Content-Length", 0))
            version = version.split("/", 1)[1]
        except (ValueError, IndexError):
            length = -1
        if length < 0:
            return "malformed request line or headers"
        # The request first, the body then: the request's two dozen
        # attributes take one block of some 400 bytes, found more easily
        # before the body takes its own.
        req = Request(self, addr, method, url, version, headers, body=b"", sock=(reader, writer))
        if 0 < length <= Request.max_content_length:  # larger: answered 413 unread (Microdot.dispatch_request)
            # Read in place: a body of 2 KB takes 2 KB of heap, not the
            # copies that joining its pieces would make.
            self._due(i, _BODY_MS)
            body = bytearray(length)
            got = min(len(head) - end - 4, length)
            body[:got] = head[end + 4 : end + 4 + got]
            head = None
            while got < length:
                n = await aio.read_into(reader, memoryview(body)[got:])
                if not n:
                    return None
                got += n
            req._body = body
        return req

    def _render(self, res):
        """Make the whole of ``res`` before any of it is sent, so that a
        failure here (MemoryError included) can still be answered cleanly:
        the body, unless microdot made it bytes already, is written into
        the text buffer, which is measured for its Content-Length."""
        res.complete()
        body = res.body
        if isinstance(body, (bytes, bytearray)):
            return
        if isinstance(body, FileBody):
            res.headers["Content-Length"] = str(body.size)
            return
        text = self.text
        text.seek(0)
        if isinstance(body, Object):
            body.write(text)
        else:  # any other iterable of strings, as microdot takes them
            for piece in body:
                text.write(piece)
        res.headers["Content-Length"] = str(text.tell())

    def _write(self, res, writer):
        """Hand the answer ``res`` (made by _render) to ``writer``, through
        the buffer: status line and headers first, then the body, the
        buffer written each time it is full. An answer that fits the buffer
        is one write. No ``await``: other connections share the buffers,
        and the writer sends or copies what it is given at once."""
        out = memoryview(self.buf)
        n = _head(res, out)
        if res.is_head:
            aio.put(writer, out[:n])
            return
        body = res.body
        if isinstance(body, FileBody):  # sent by _connection, after the head
            aio.put(writer, out[:n])
            return
        if isinstance(body, (bytes, bytearray)):
            if n + len(body) > len(out):
                aio.put(writer, out[:n])
                aio.put(writer, body)
                return
            out[n : n + len(body)] = body
            aio.put(writer, out[: n + len(body)])
            return
        text = self.text
        left = text.tell()
        text.seek(0)
        while True:
            got = text.readinto(out[n : n + left])
            n += got
            left -= got
            aio.put(writer, out[:n])
            if not left:
                return
            n = 0


class FileBody:
    """An answer's body that stays in its file (on flash, or in the ROM
    image): sent in pieces of the server's write buffer, each drained
    before the next is read, so a 30 KB file costs the heap nothing of its
    size, however many clients fetch it at once."""

    def __init__(self, path):
        self.path = path
        self.size = os.stat(path)[6]

    async def send(self, writer, buf):
        """``buf``: the server's write buffer, which every connection uses:
        each piece is handed to the socket, which sends it or copies what it
        cannot take yet, before the next ``await`` (as Server._write). A
        piece of its own per connection took 512 bytes each: three browsers
        fetching the page at once ran a 78k heap out of memory."""
        view = memoryview(buf)
        with open(self.path, "rb") as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    return
                aio.put(writer, view[:n])
                await writer.drain()


def _head(res, out):
    """Write the status line and headers of ``res`` into ``out`` (a
    memoryview of the write buffer); returns their length. Line by line:
    the whole head, as a list of lines, their join and its encoding, took
    three copies of it in the heap at once, the allocation that failed
    first when three browsers fetched the page on a 78k heap."""
    reason = res.reason if res.reason is not None else ("OK" if res.status_code == 200 else "N/A")
    n = _line(out, 0, "HTTP/1.0 %d %s\r\n" % (res.status_code, reason))
    for name, value in res.headers.items():
        for value in value if isinstance(value, list) else (value,):
            n = _line(out, n, "%s: %s\r\n" % (name, value))
    return _line(out, n, "\r\n")


def _line(out, n, text):
    data = text.encode()
    end = n + len(data)
    out[n:end] = data  # past the buffer: ValueError
    return end


def _refuse(sock, answer=BUSY):
    """Answer a connection there is no place or heap for 503 (or the canned
    ``answer``), waiting for nothing: it fits the socket's send buffer,
    empty on a fresh connection."""
    _drain(sock)
    try:
        sock.send(answer)
    except Exception:  # the client is gone
        pass


def _drain(sock):
    """Read and forget what the client has sent and the server has not
    read, as far as it is there already: closed with unread data, a socket
    sends a reset, which can overtake the answer at the client."""
    try:
        sock.setblocking(False)
        for _ in range(8):
            if not sock.recv(256):
                break
    except Exception:  # nothing (more) to read
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


def create(charger, connections=4, buffer=768):
    """The Microdot application serving ``charger`` (an app.runtime.Charger),
    with the board file's limits (Server)."""
    app = Server(connections, buffer)
    m = charger.manager  # charger.manager.EvseManager: everything goes through it
    writes = WriteBudget()

    @app.before_request
    async def require_auth(req):
        if req.method == "GET" or req.method == "HEAD":
            return None
        foreign = _cross_site(req)
        if foreign:  # refused before the password is looked at: no guess counted
            return _error(403, {"Origin": "refused: a page of another site (%s) may not change the charger" % foreign[:80]})
        stored = m.settings()["AdminPasswordHash"]
        if req.method == "POST" and stored and (req.path.startswith(API) or req.path.startswith(OTA)):
            from app.password import guesses  # loaded only once a password is set

            wait = guesses.wait_s()
            if wait:
                return {"Errors": {"Authorization": "too many wrong passwords; try again in %d s" % wait}}, 429, {
                    "Retry-After": str(wait)
                }
            if not await _authorized(req, stored, guesses):
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

    @app.errorhandler(MemoryError)
    async def out_of_memory(req, exc):
        return _error(503, {"server": "out of memory, try again in a second"}) + ({"Retry-After": "1"},)

    @app.errorhandler(Exception)
    async def internal(req, exc):
        log.error("web: %s %s failed" % (req.method, req.path), exc)
        return _error(500, {"server": "internal error: %s" % type(exc).__name__})

    @api.get("Status")
    async def status(req):
        s = m.session
        return dict(
            TimeStamp=charger.clock.uptime_ms(),
            SystemVersion=charger.version,
            WiFiInfo="%s:%d%%" % (charger.wifi.ssid(), rssi_percent(charger.wifi.rssi())),
            EvseState=m.state,
            ThreePhaseCharging=m.three_phase,
            ActualCurrent=m.current_a,
            PPCodedCurrent=m.pp_a,
            ActualPower=m.power_w,
            ActualPowerAvailable=m.power_available_w(),
            ActualEnergy=s.energy_ws,
            ActualDuration=duration_text(s.duration_s),
            ActualDurationTotalSeconds=s.duration_s,
            AutoStartAllowed=m.auto_start,
            StartStopAllowed=m.start_stop_allowed,
            BoostAllowed=m.boost_allowed,
            ChargerStarted=m.started,
            ChargeBoosted=m.boosted,
            Meter1Status=m.meter_errors(1),
            Meter2Status=m.meter_errors(2),
            # Beyond the original: the energy is estimated until a meter
            # measures it, and the source whose limit the offer is.
            ActualEnergyEstimated=s.estimated,
            ActualCurrentLimitSource=m.limit_source,
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
        if power is not None and not m.may_set_power_available(client_ip(req)):
            return _error(403, {"EVSEPowerAvailable": "only the remote control system at Meter2Ip may set it"})
        # Well-formed, but is it possible now? (409: try again later)
        reason = data.get("ChargeStartToggle") and m.start_refusal()
        if reason:
            errors["ChargeStartToggle"] = "not possible now: " + reason
        reason = data.get("ChargeBoostToggle") and m.boost_refusal()
        if reason:
            errors["ChargeBoostToggle"] = "not possible now: " + reason
        if errors:
            return _error(409, errors)
        result = {}
        if data.get("ChargeStartToggle"):
            m.toggle_start()
            result["ChargerStarted"] = m.started
        if data.get("ChargeBoostToggle"):
            m.toggle_boost()
            result["ChargeBoosted"] = m.boosted
        if "EVSEPowerAvailable" in data:
            m.set_power_available(power)
            result["ActualPowerAvailable"] = m.power_available_w()
        return result

    def meter(n):
        async def handler(req):
            now = charger.clock.uptime_ms()
            return {"Meter%d" % n: {"TimeStamp": now, "ModbusData": m.meter_data(n, now)}}

        return handler

    @api.get("openapi.json")
    async def openapi(req):
        # Beside this module wherever the app is: a slot on flash, or the ROM image.
        return Response(FileBody(__file__.rsplit("/", 1)[0] + "/openapi.json"),
                        headers={"Content-Type": "application/json"})

    @app.route("/")
    async def page(req):
        from app.webpage import answer  # loaded by the first browser, not at boot

        return answer(req, __file__.rsplit("/", 2)[0])

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
            errors.update(m.validate_settings(data))  # every reason at once
            return _error(400, errors)
        errors = m.settings_conflict(data)
        if errors:
            return _error(409, errors)
        valid = not m.validate_settings(data)
        if valid and not writes.take():  # a valid write would go to flash
            errors = {"SystemConfig": "written %d times in a row; try again in a second" % writes.burst}
            return _error(429, errors) + ({"Retry-After": "1"},)
        password_hash = None
        if data.get("AdminPassword") and valid:
            from app.password import hash_async  # derived between turns of the control loop

            password_hash = await hash_async(data["AdminPassword"])
        errors = m.set_settings(data, password_hash)
        if errors:
            return _error(400, errors)
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
            GeneralInfo=m.general_info(),
            OTAMsg=charger.ota_message(),
            OTACheckAllowed=charger.ota_refusal(False) is None,
            OTAUpdateAllowed=charger.ota_available is not None and charger.ota_refusal(True) is None,
            WiFiMode=wifi.mode,  # beyond the original: "sta", "ap" (setup access point) or "off"
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
        if code == "ResetMeterEnergy" and not m.reset_meter_energy():
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
            m.reset()
            result["Reset"] = "Performing"
        elif code == "FactoryDefault":
            m.factory_reset()
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
