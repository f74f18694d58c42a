"""A small asyncio WebSocket client (RFC 6455) for OCPP-J, MicroPython and CPython.

    ws = await connect("wss://cs.example/ocpp/BOX1", auth=("BOX1", key), ca=pem)
    ws.ping_interval_s = 60          # WebSocketPingInterval; 0 = no pings
    await ws.send('[2,"1","Heartbeat",{}]')
    text = await ws.recv()           # str; raises WsClosed / WsError
    await ws.close()

Why our own: micropython-lib's ``aiohttp`` costs 16-22 KB of heap and sends
no pings, no close frame and has no timeouts. This one does what OCPP needs
and no more: text messages, the ``ocpp1.6`` subprotocol, HTTP Basic (security
profiles 1 and 2), TLS with a configured CA (profile 2), pings, a clean close.

Memory: frames are masked into one small reused buffer (``TX_CHUNK`` bytes)
and written from it, so sending allocates no buffer per frame. Received
messages are assembled in one buffer that grows to the largest message seen
(at most ``max_size``; bigger messages close the link with 1009) and shrinks
back after a big one.

Pings and dead links: pings go out from inside ``recv()`` while it waits for
a frame, so the connection needs a task that keeps calling ``recv()`` (an
OCPP charge point always has one). A ping that gets no frame at all back
within ``pong_timeout_ms`` means the link is dead: ``recv()`` raises
``WsClosed`` with code 1006.

Errors: ``WsError`` for a failed handshake, TLS, timeouts and protocol
errors; ``WsClosed`` (a ``WsError``) once the connection is closed, with the
close ``code`` (1006 when it was lost without a close frame). After either,
the connection is unusable, except ``WsTimeout`` from ``recv(timeout_ms)``
(no message began in time; the connection stays open).
"""

import asyncio
import binascii
import os
import random

from app.aio import put, ticks_add, ticks_diff, ticks_ms, wait_for_ms

try:
    from hashlib import sha1 as _hashlib_sha1

    def _sha1(data):
        return _hashlib_sha1(data).digest()

except ImportError:  # e.g. the 32-bit unix port: our own, imported only then

    def _sha1(data):
        # Once per opening handshake: the module is dropped again after it,
        # so that its code holds no heap (0.7 KB) while the connection runs.
        import sys
        import ocpp
        from ocpp.sha1 import sha1

        try:
            return sha1(data)
        finally:
            del sys.modules["ocpp.sha1"]
            del ocpp.sha1

_MPY = hasattr(asyncio, "sleep_ms")  # MicroPython's asyncio: one Stream object, readinto
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

TX_CHUNK = 128  # bytes masked and written at a time; a multiple of 4
RX_START = 256  # first size of the receive buffer
RX_KEEP = 4096  # a receive buffer grown past this is dropped after its message
MAX_SIZE = 65536  # default bound of a received message, in bytes
MAX_HEADER_LINES = 40  # of the HTTP answer to the upgrade
CLOCK_LOOK_MS = 20  # how often a wait looks at a clock that is not real time (the simulator's)

# opcodes (RFC 6455 5.2)
_CONT, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0, 1, 2, 8, 9, 10


class WsError(Exception):
    """The connection failed: handshake, TLS, timeout, protocol. ``status``
    is the HTTP status when the server refused the upgrade (e.g. 401)."""

    status = None


class WsTimeout(WsError):
    """``recv(timeout_ms)`` saw no message begin in time; the link is fine."""


class WsClosed(WsError):
    """The connection is closed. ``code``: the close code (1000 normal,
    1006 lost without a close frame, 1009 message too big...)."""

    def __init__(self, code, reason=""):
        super().__init__("closed (%d)%s" % (code, ": " + reason if reason else ""))
        self.code = code
        self.reason = reason


def parse_url(url):
    """``ws://host[:port]/path`` -> (secure, host, port, path). ValueError if not one."""
    if url.startswith("ws://"):
        secure, rest, port = False, url[5:], 80
    elif url.startswith("wss://"):
        secure, rest, port = True, url[6:], 443
    else:
        raise ValueError("not a ws:// or wss:// URL: %r" % url)
    i = rest.find("/")
    hostport, path = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    if "@" in hostport:
        raise ValueError("credentials in the URL are not sent: give auth instead")
    if hostport.startswith("["):  # IPv6 literal
        j = hostport.find("]")
        host, tail = hostport[1:j], hostport[j + 1 :]
    else:
        j = hostport.rfind(":")
        host, tail = (hostport, "") if j < 0 else (hostport[:j], hostport[j:])
    if tail:
        if not tail.startswith(":") or not tail[1:].isdigit():
            raise ValueError("bad port in %r" % url)
        port = int(tail[1:])
        if not 0 < port < 65536:
            raise ValueError("bad port in %r" % url)
    if not host or " " in path or "#" in path:
        raise ValueError("bad URL %r" % url)
    return secure, host, port, path


def basic_auth(user, password):
    """The value of an HTTP Basic ``Authorization`` header (RFC 7617)."""
    if ":" in user:
        raise ValueError("a Basic user name cannot contain ':'")
    token = binascii.b2a_base64((user + ":" + password).encode())
    return "Basic " + token.decode().strip()


def tls_context(ca):
    """A client TLS context that trusts only ``ca`` and checks the host name
    (app.tls); WsError on a build without TLS."""
    from app.tls import client_context

    try:  # a bad certificate is a ValueError, on any build
        return client_context(ca)
    except ImportError:  # a build without TLS
        raise WsError("no TLS in this MicroPython build: wss:// is not possible")


async def connect(url, subprotocol="ocpp1.6", auth=None, ca=None, timeout_ms=10000, max_size=MAX_SIZE):
    """Open a WebSocket to ``url`` and return it once the upgrade succeeded.

    ``auth``: (user, password) for HTTP Basic, or None. ``ca``: the CA
    certificate (PEM or DER) a ``wss://`` server must be signed by; a wss
    URL without one is refused (ValueError) rather than trusted blindly.
    The server must echo ``subprotocol``. Everything up to the upgrade must
    be done in ``timeout_ms``, which also bounds a read stuck mid-frame."""
    secure, host, port, path = parse_url(url)
    if secure and ca is None:
        raise ValueError("wss:// needs the CA certificate of the server")
    ctx = tls_context(ca) if secure else None
    header = basic_auth(auth[0], auth[1]) if auth else None
    ws = WebSocket(max_size, timeout_ms)
    try:
        await wait_for_ms(ws._open(host, port, path, ctx, subprotocol, header), timeout_ms)
    except asyncio.TimeoutError:
        ws._abort()
        raise WsError("no connection to %s:%d within %d ms" % (host, port, timeout_ms))
    except (OSError, EOFError, ValueError) as e:
        # refused, reset, TLS failures: an ssl.SSLError (an OSError) on
        # CPython, a ValueError ("certificate ... does not match") or an
        # OSError from MicroPython's mbedTLS.
        ws._abort()
        raise WsError("connection to %s:%d failed: %s" % (host, port, str(e).strip()))
    except BaseException:
        ws._abort()
        raise
    return ws


class WebSocket:
    """One client connection; made by ``connect()``.

    Attributes a caller may set: ``ping_interval_s`` (0 = off),
    ``pong_timeout_ms``, ``read_timeout_ms`` (a frame that stops half way),
    ``close_timeout_ms``, ``clock`` (the ticks the ping interval is counted
    in: the simulator's virtual time moves it; the pong timeout and the
    others are real time, how long a peer takes). Counters: ``pings``,
    ``pongs``, ``oversize``.
    """

    def __init__(self, max_size=MAX_SIZE, timeout_ms=10000):
        self.max_size = max_size
        self.ping_interval_s = 0
        self.pong_timeout_ms = 10000
        self.read_timeout_ms = timeout_ms
        self.send_timeout_ms = timeout_ms  # a send the peer does not take (see _drain)
        self.close_timeout_ms = 5000
        self.subprotocol = None
        self.closed = False
        self.close_code = None
        self.pings = 0
        self.pongs = 0
        self.oversize = 0
        self._r = self._w = None
        self._hdr = bytearray(10)  # a received frame's header
        self._hdr_mv = memoryview(self._hdr)
        self._ctl = bytearray(125)  # a received control frame's payload
        self._ctl_mv = memoryview(self._ctl)
        self._tx = bytearray(14 + TX_CHUNK)  # header + masked payload, reused by every send
        self._tx_mv = memoryview(self._tx)
        self._rx = None  # the message being assembled (grown on demand)
        self._lock = asyncio.Lock()
        self._close_sent = False
        self._closed_evt = None
        self._reader = None  # the task inside recv(), if any
        self._reader_cancelled = False
        self.clock = ticks_ms
        self._ping_clock = ticks_ms  # the clock _ping_at was taken from
        self._ping_at = ticks_ms()  # in ``clock``'s ticks: when the last ping went (or the link opened)
        self._pinged = 0  # real ticks of the ping waiting for its answer
        self._ping_out = False

    # -- opening ----------------------------------------------------------

    async def _open(self, host, port, path, ctx, subprotocol, auth_header):
        if _MPY:
            await self._mpy_connect(host, port, ctx)
        elif ctx is None:  # CPython's asyncio sets TCP_NODELAY itself
            self._r, self._w = await asyncio.open_connection(host, port)
        else:
            self._r, self._w = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=host)
        key = binascii.b2a_base64(os.urandom(16)).strip()
        hostport = ("[%s]" % host) if ":" in host else host
        if port != (443 if ctx else 80):
            hostport += ":%d" % port
        req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n"
               % (path, hostport, key.decode(), subprotocol))
        if auth_header:
            req += "Authorization: %s\r\n" % auth_header
        put(self._w, (req + "\r\n").encode())
        await self._w.drain()

        line = await self._r.readline()
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise WsError("not an HTTP answer: %r" % line[:60])
        status = int(parts[1])
        headers = {}
        for _ in range(MAX_HEADER_LINES):
            line = await self._r.readline()
            if not line:
                raise WsError("connection closed during the upgrade")
            if line in (b"\r\n", b"\n"):
                break
            i = line.find(b":")
            if i > 0:
                headers[line[:i].strip().lower()] = line[i + 1 :].strip()
        else:
            raise WsError("too many header lines in the upgrade answer")
        if status != 101:
            e = WsError("server refused the upgrade: HTTP %d %s" % (status, (parts[2] if len(parts) > 2 else b"").strip().decode()))
            e.status = status
            raise e
        if headers.get(b"upgrade", b"").lower() != b"websocket" or b"upgrade" not in headers.get(b"connection", b"").lower():
            raise WsError("server did not upgrade to websocket")
        digest = _sha1(key + _GUID)
        if headers.get(b"sec-websocket-accept") != binascii.b2a_base64(digest).strip():
            raise WsError("wrong Sec-WebSocket-Accept")
        got = headers.get(b"sec-websocket-protocol", b"").decode()
        if got != subprotocol:
            raise WsError("server did not accept subprotocol %s (answered %r)" % (subprotocol, got))
        self.subprotocol = got
        self._ping_at = self.clock()
        self._ping_clock = self.clock

    def _mpy_connect(self, host, port, ctx):
        # MicroPython's asyncio.open_connection, but with TCP_NODELAY set
        # before TLS wraps the socket (after that it is out of reach). A
        # message longer than TX_CHUNK goes out in several writes; with
        # Nagle's algorithm on, each write after the first waits for the
        # ACK of the one before, and a server that delays its ACKs (Linux:
        # 40 ms) stalled every such message by that much. The stream is
        # ours before the first wait, so a timeout or a failure closes the
        # socket (_abort) instead of leaving it to the collector.
        import socket
        from asyncio import core
        from errno import EINPROGRESS

        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]  # blocks, as asyncio's does
        s = socket.socket(ai[0], ai[1], ai[2])
        self._r = self._w = asyncio.StreamReader(s)
        try:  # the same numbers on Linux and lwIP; some ports name neither
            s.setsockopt(getattr(socket, "IPPROTO_TCP", 6), getattr(socket, "TCP_NODELAY", 1), 1)
        except OSError:
            pass
        s.setblocking(False)
        try:
            s.connect(ai[-1])
        except OSError as e:
            if e.errno != EINPROGRESS:
                raise
        if ctx is not None:  # the handshake happens on the first read or write
            s = ctx.wrap_socket(s, server_hostname=host, do_handshake_on_connect=False)
            s.setblocking(False)
            self._r = self._w = asyncio.StreamReader(s)
        yield core._io_queue.queue_write(s)

    # -- sending ----------------------------------------------------------

    async def send(self, text):
        """Send ``text`` (str) as one text message. A peer that takes
        nothing for ``send_timeout_ms`` fails the link (WsClosed, 1006)."""
        if not isinstance(text, str):
            raise TypeError("send() takes str (OCPP-J is text), not %s" % type(text).__name__)
        if self.closed or self._close_sent:
            raise WsClosed(self.close_code or 1006, "send after close")
        await self._send_frame(0x80 | _TEXT, text.encode())

    async def _send_frame(self, b0, data):
        # Masking key: 32 random bits (RFC 6455 5.3), two 16-bit draws so
        # that no long int is made on a 32-bit port.
        await self._lock.acquire()
        try:
            if self._w is None:  # dropped while we waited for the lock
                raise WsClosed(self.close_code or 1006, "send after close")
            n = len(data)
            tx = self._tx
            tx[0] = b0
            if n < 126:
                tx[1] = 0x80 | n
                h = 2
            elif n < 65536:
                tx[1] = 0x80 | 126
                tx[2] = n >> 8
                tx[3] = n & 0xFF
                h = 4
            else:
                tx[1] = 0x80 | 127
                for i in range(8):
                    tx[2 + i] = (n >> (56 - 8 * i)) & 0xFF
                h = 10
            k = random.getrandbits(16)
            tx[h] = k >> 8
            tx[h + 1] = k & 0xFF
            k = random.getrandbits(16)
            tx[h + 2] = k >> 8
            tx[h + 3] = k & 0xFF
            m0, m1, m2, m3 = tx[h], tx[h + 1], tx[h + 2], tx[h + 3]
            h += 4
            # The header goes with the first chunk; each chunk is masked into
            # tx after it and written before tx is reused. Chunks start at
            # payload offsets that are multiples of 4, so the key restarts.
            i = 0
            mv = self._tx_mv
            while True:
                m = n - i
                if m > TX_CHUNK:
                    m = TX_CHUNK
                j = 0
                while j < m:
                    tx[h + j] = data[i + j] ^ m0
                    j += 1
                    if j < m:
                        tx[h + j] = data[i + j] ^ m1
                        j += 1
                    if j < m:
                        tx[h + j] = data[i + j] ^ m2
                        j += 1
                    if j < m:
                        tx[h + j] = data[i + j] ^ m3
                        j += 1
                w = self._w
                put(w, mv[: h + m])
                if _MPY and not w.out_buf:
                    await w.drain()  # the socket took it all: this only yields
                else:
                    await self._drain(w)
                i += m
                h = 0
                if i >= n:
                    break
        except OSError as e:
            self._abort()
            raise WsClosed(1006, "send failed: %s" % e)
        finally:
            self._lock.release()

    async def _drain(self, w):
        # Wait until the socket has taken what put() could not hand over at
        # once, at most send_timeout_ms: a peer that takes nothing (a dead
        # link with full buffers) would otherwise hold the send lock for
        # ever, and with it the pings that detect the dead link and close().
        # Called only then on MicroPython: the timer is a task (allocation).
        try:
            await wait_for_ms(w.drain(), self.send_timeout_ms)
        except asyncio.TimeoutError:
            self._abort()
            raise WsClosed(1006, "send stalled: the peer took nothing for %d ms" % self.send_timeout_ms)

    async def _send_control(self, b0, code, payload):
        # Close frames carry a 2-byte code then the reason (<= 125 bytes).
        if code is not None:
            payload = bytes((code >> 8, code & 0xFF)) + payload[:123]
        await self._send_frame(b0, payload)

    # -- receiving --------------------------------------------------------

    async def recv(self, timeout_ms=None):
        """The next text message, as str. Answers pings, sends ours and
        detects a dead link meanwhile. ``timeout_ms``: raise ``WsTimeout``
        if no message has begun by then (the connection stays usable)."""
        if self.closed:
            raise WsClosed(self.close_code, "recv after close")
        if self._reader is not None:
            raise RuntimeError("recv() is already waiting in another task")
        self._reader = asyncio.current_task()
        try:
            return await self._recv(timeout_ms)
        except asyncio.CancelledError:
            if not self._reader_cancelled:
                raise
            # _abort() woke us: the link is gone. Not a cancellation of the
            # caller's task, so CPython's count of them is undone.
            task = asyncio.current_task()
            if hasattr(task, "uncancel"):
                task.uncancel()
            raise WsClosed(self.close_code or 1006, "closed while receiving")
        finally:
            self._reader = None

    async def _recv(self, timeout_ms):
        deadline = None if timeout_ms is None else ticks_add(ticks_ms(), timeout_ms)
        size = 0  # bytes of the message so far
        kind = 0  # opcode of the message being assembled, 0 = none yet
        hdr = self._hdr
        while True:
            if kind:  # the next fragment is due like the rest of a frame
                await self._frame_start(ticks_add(ticks_ms(), self.read_timeout_ms), True)
            else:
                await self._frame_start(deadline, False)
            b0, b1 = hdr[0], hdr[1]
            fin, op, n = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
            if b0 & 0x70 or b1 & 0x80:  # reserved bits, or a masked frame from a server
                await self._fail(1002, "bad frame header")
            if n == 126:
                await self._fill(self._hdr_mv, 2, 2)
                n = (hdr[2] << 8) | hdr[3]
            elif n == 127:
                await self._fill(self._hdr_mv, 2, 8)
                n = 0
                for i in range(2, 10):
                    n = (n << 8) | hdr[i]
            if op >= 8:
                if not fin or n > 125:
                    await self._fail(1002, "bad control frame")
                await self._fill(self._ctl_mv, 0, n)
                if op == _PING:
                    await self._send_control(0x80 | _PONG, None, bytes(self._ctl_mv[:n]))
                elif op == _PONG:
                    self.pongs += 1
                elif op == _CLOSE:
                    await self._closing(n)
                else:
                    await self._fail(1002, "unknown opcode %d" % op)
                continue
            if op == _CONT:
                if not kind:
                    await self._fail(1002, "continuation without a message")
            elif op == _TEXT or op == _BINARY:
                if kind:
                    await self._fail(1002, "new message inside a fragmented one")
                kind = op
            else:
                await self._fail(1002, "unknown opcode %d" % op)
            if size + n > self.max_size:
                self.oversize += 1
                await self._fail(1009, "message over %d bytes" % self.max_size)
            self._room(size + n)
            await self._fill(memoryview(self._rx), size, n)
            size += n
            if fin:
                break
        if kind != _TEXT:
            await self._fail(1003, "binary message (OCPP-J is text)")
        try:
            text = str(memoryview(self._rx)[:size], "utf-8")
        except UnicodeError:
            await self._fail(1007, "message is not UTF-8")
        if len(self._rx) > RX_KEEP:
            self._rx = None  # give a big buffer back to the heap
        return text

    def _room(self, need):
        # Grow by doubling (copying what is there), never past max_size.
        rx = self._rx
        if rx is not None and len(rx) >= need:
            return
        cap = RX_START if rx is None else len(rx)
        while cap < need:
            cap *= 2
        if cap > self.max_size:
            cap = self.max_size
        new = bytearray(cap)
        if rx is not None:
            new[: len(rx)] = rx
        self._rx = new

    async def _frame_start(self, deadline, mid_message):
        # Wait for the first byte of a frame, pinging when due, then read the
        # second. Any frame is a sign of life: it answers our ping. Past the
        # deadline: WsTimeout between messages; inside a fragmented one the
        # link has stalled and fails.
        mv = self._hdr_mv
        while True:
            wait = await self._keepalive()
            if deadline is not None:
                left = ticks_diff(deadline, ticks_ms())
                if left <= 0:
                    if mid_message:
                        self._abort()
                        raise WsError("timeout: a fragmented message stopped half way for %d ms"
                                      % self.read_timeout_ms)
                    raise WsTimeout("no message within the timeout")
                if wait is None or left < wait:
                    wait = left
            try:
                if await self._read(mv[0:1], wait):
                    break
            except asyncio.TimeoutError:
                pass
        self._ping_out = False
        await self._fill(mv, 1, 1)

    async def _keepalive(self):
        # ms until something is due (None: nothing), sending a ping if due.
        # The interval is counted in self.clock's ticks; the pong timeout in
        # real ones.
        interval = self.ping_interval_s * 1000
        clock = self.clock
        now = clock()
        if clock is not self._ping_clock:  # a caller set another clock: start counting on it
            self._ping_clock = clock
            self._ping_at = now
        if not interval:
            self._ping_at = now  # keep the stamp fresh for ticks_diff
            self._ping_out = False
            return None
        if self._ping_out:
            left = self.pong_timeout_ms - ticks_diff(ticks_ms(), self._pinged)
            if left <= 0:
                self._abort()
                raise WsClosed(1006, "dead link: nothing received for %d ms after a ping" % self.pong_timeout_ms)
            return left
        left = interval - ticks_diff(now, self._ping_at)
        if left > 0:
            # Virtual time jumps whenever the simulator advances it, without
            # telling us: look again soon, so a ping falls due as it would.
            return left if clock is ticks_ms or left < CLOCK_LOOK_MS else CLOCK_LOOK_MS
        await self._send_control(0x80 | _PING, None, b"")
        self.pings += 1
        self._ping_at = now
        self._pinged = ticks_ms()
        self._ping_out = True
        return self.pong_timeout_ms

    async def _fill(self, mv, start, n):
        # Read exactly n bytes into mv[start:start + n]; a frame that stops
        # half way for read_timeout_ms fails the link.
        end = start + n
        deadline = ticks_add(ticks_ms(), self.read_timeout_ms)
        while start < end:
            left = ticks_diff(deadline, ticks_ms())
            try:
                if left <= 0:
                    raise asyncio.TimeoutError
                start += await self._read(mv[start:end], left)
            except asyncio.TimeoutError:
                self._abort()
                raise WsError("timeout: a frame stopped half way for %d ms" % self.read_timeout_ms)

    async def _read(self, mv, wait_ms):
        # Some bytes into mv: how many (0 only when TLS had no data yet);
        # WsClosed(1006) at the end of the stream or on a socket error.
        try:
            if _MPY:
                r = self._r.readinto(mv)
                n = await (r if wait_ms is None else wait_for_ms(r, wait_ms))
                if n is None:  # TLS: a record not complete yet
                    return 0
            else:
                r = self._r.read(len(mv))
                data = await (r if wait_ms is None else wait_for_ms(r, wait_ms))
                n = len(data)
                mv[:n] = data
        except asyncio.TimeoutError:  # an OSError on CPython 3.11+: not a lost link
            raise
        except OSError as e:
            self._abort()
            raise WsClosed(1006, "connection lost: %s" % e)
        if not n:
            self._abort()
            raise WsClosed(1006, "connection lost without a close frame")
        return n

    async def _closing(self, n):
        # A close frame: its code, then the handshake's other half.
        code = (self._ctl[0] << 8) | self._ctl[1] if n >= 2 else 1005
        try:
            reason = str(self._ctl_mv[2:n], "utf-8") if n > 2 else ""
        except UnicodeError:
            reason = ""
        if not self._close_sent:
            self._close_sent = True
            try:  # echo it (1005 "no code" is never sent: answer without one)
                await self._send_control(0x80 | _CLOSE, None if code == 1005 else code, b"")
            except WsError:
                pass
        self.close_code = code
        self._abort()
        raise WsClosed(code, reason)

    async def _fail(self, code, why):
        # Fail the connection (RFC 6455 7.1.7): send a close with the code,
        # drop the TCP connection; the caller sees WsClosed with that code.
        if not self._close_sent:
            self._close_sent = True
            try:
                await self._send_control(0x80 | _CLOSE, code, b"")
            except WsError:
                pass
        self.close_code = code
        self._abort()
        raise WsClosed(code, why)

    # -- closing ----------------------------------------------------------

    async def close(self, code=1000, reason=""):
        """Close cleanly: send a close frame, wait (``close_timeout_ms``)
        for the server's, then drop the connection. Never raises."""
        if self.closed:
            return
        if self._reader is not None and self._closed_evt is None:
            self._closed_evt = asyncio.Event()  # set by _abort(), when its recv() sees the answer
        if not self._close_sent:
            self._close_sent = True
            self.close_code = code
            try:
                await self._send_control(0x80 | _CLOSE, code, reason.encode())
            except WsError:
                return
        try:
            if self.closed:
                pass
            elif self._closed_evt is not None:
                await wait_for_ms(self._closed_evt.wait(), self.close_timeout_ms)
            else:  # read (and drop) what comes until the answer
                deadline = ticks_add(ticks_ms(), self.close_timeout_ms)
                while True:
                    await self._recv(max(1, ticks_diff(deadline, ticks_ms())))
        except (WsError, asyncio.TimeoutError):
            pass
        self._abort()

    def _abort(self):
        # Drop the TCP connection now; wake a task blocked in recv().
        if self.closed:
            return
        self.closed = True
        if self.close_code is None:
            self.close_code = 1006
        w, self._w, self._r = self._w, None, None
        if w is not None:
            try:
                if _MPY:
                    w.s.close()
                else:
                    w.close()
            except OSError:
                pass
        if self._closed_evt is not None:
            self._closed_evt.set()
        reader = self._reader
        if reader is not None and reader is not asyncio.current_task():
            self._reader_cancelled = True
            reader.cancel()


def for_profile(profile, endpoint, box_id, key, ca):
    """(url, auth, ca) for OCPP security profile 0, 1 or 2 (Eaton 2.2-2.3).

    The URL is the endpoint with the BoxID appended. Profile 0: ws://, no
    authentication. 1: ws:// with HTTP Basic ``BoxId:AuthorizationKey``.
    2: wss:// with Basic, trusting ``ca`` (PEM text) only. ValueError for
    any combination that does not fit (e.g. profile 2 on a ws:// endpoint)."""
    if profile not in (0, 1, 2):
        raise ValueError("security profile must be 0, 1 or 2, not %r" % (profile,))
    if not box_id or not isinstance(box_id, str):
        raise ValueError("the BoxID is empty")
    for c in box_id:
        if c in "/?#%:@ " or ord(c) < 0x21 or ord(c) > 0x7E:
            raise ValueError("the BoxID may not contain %r" % c)
    secure, _, _, _ = parse_url(endpoint)
    if secure != (profile == 2):
        raise ValueError("security profile %d needs a %s endpoint" % (profile, "wss://" if profile == 2 else "ws://"))
    url = endpoint + box_id if endpoint.endswith("/") else endpoint + "/" + box_id
    if profile == 0:
        return url, None, None
    if not key:
        raise ValueError("security profile %d needs an authorization key" % profile)
    if profile == 1:
        return url, (box_id, key), None
    if not ca:
        raise ValueError("security profile 2 needs the CA certificate")
    from app.tls import ders

    ders(ca)  # refuse a bad certificate now, not at every connection attempt
    return url, (box_id, key), ca


class Backoff:
    """Reconnection waits after Eaton's RetryBackoffWaitMinimum,
    RetryBackoffRandomRange and RetryRepeatTimes: the wait starts at
    ``min_s`` and doubles with each failed attempt, ``repeat_times`` times,
    then stays there; each wait adds a random 0..``range_s`` seconds so that
    chargers cut off together do not all come back in the same second.
    ``reset()`` after a connection has been established."""

    MAX_S = 86400  # a day: keeps waits (and small ints on 32-bit) bounded

    def __init__(self, min_s, range_s, repeat_times):
        for name, v in (("min_s", min_s), ("range_s", range_s), ("repeat_times", repeat_times)):
            if not isinstance(v, int) or v < 0:
                raise ValueError("Backoff %s must be an int >= 0, not %r" % (name, v))
        self.min_s = min_s
        self.range_s = range_s
        self.repeat_times = repeat_times
        self.attempt = 0

    def next_s(self):
        """Seconds to wait before the next attempt."""
        base = self.min_s
        for _ in range(min(self.attempt, self.repeat_times)):
            base *= 2
            if base >= self.MAX_S:
                base = self.MAX_S
                break
        self.attempt += 1
        if self.attempt > self.repeat_times:
            self.attempt = self.repeat_times  # no further growth (and no int growth)
        extra = random.randint(0, self.range_s) if self.range_s else 0
        return min(base + extra, self.MAX_S)

    def reset(self):
        self.attempt = 0
