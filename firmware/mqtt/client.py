"""A small asyncio MQTT 3.1.1 client, for MicroPython and CPython.

    c = MqttClient("broker.lan", 1883, "evse-1", user="u", password="p",
                   will=("evse/1/status", "offline", True, 1))
    c.on_connect(lambda: c.publish("evse/1/status", "online", retain=True, qos=1))
    c.subscribe("evse/1/set/+", lambda topic, payload: ...)
    asyncio.create_task(c.run())           # connects, and again whenever the link drops
    c.publish("evse/1/power", "7200")      # never blocks: queued, sent by run()'s writer

Why our own: micropython-lib's ``umqtt.simple`` blocks on its socket (its
packet code is the model for this one), ``umqtt.robust`` sleeps while
blocking, either would stall the control loop; ``mqtt_as`` costs some
22 KB of heap. This one does QoS 0 and 1, retained messages, a last will,
keep-alive, user and password, reconnection with backoff and TLS where the
interpreter has an ``ssl`` module, and no more (no QoS 2, no persistent
sessions: every connection starts a clean session and subscribes again).

Tasks: ``run()`` is the reader; while connected it keeps one writer task
that sends the queued messages and the keep-alive pings. Neither ever
waits on anything but the socket, so the control task runs on.

Memory is bounded: received packets are read into one buffer of
``max_packet`` bytes; a bigger one is read through that buffer and dropped
(``dropped`` counts it, as it counts malformed packets), never allocated.
``publish()`` queues at most ``queue_len`` messages (a full queue refuses
the newest: ``publish`` returns False and ``refused`` counts it); QoS 1
messages stay queued until their PUBACK and are sent again, marked DUP,
after a reconnect. Counters: ``dropped``, ``refused``, ``reconnects``
(connections made after the first), ``connected``.
"""

import asyncio

from app import log
from app.aio import put, ticks_ms, ticks_diff, wait_for_ms

try:
    from asyncio import core  # noqa: F401  (MicroPython: its streams read into buffers)

    _MPY = True
except ImportError:
    _MPY = False

CONNECT_TIMEOUT_MS = 10000  # TCP + TLS + CONNACK
BACKOFF_MIN_S = 1
BACKOFF_MAX_S = 60
MAX_PACKET = 2048  # the default receive bound: a HA command or an EVerest request fits
QUEUE_LEN = 16

# CONNACK return codes (MQTT 3.1.1, 3.2.2.3)
_REFUSED = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


class MqttError(Exception):
    """The broker refused us, or broke the protocol: the connection ends."""


def topic_matches(topic_filter, topic):
    """Does ``topic`` match ``topic_filter`` (with MQTT's ``+`` and ``#``)?"""
    if topic_filter == topic:
        return True
    f = topic_filter.split("/")
    t = topic.split("/")
    for i, part in enumerate(f):
        if part == "#":
            return True
        if i >= len(t) or (part != "+" and part != t[i]):
            return False
    return len(f) == len(t)


def _encode_str(buf, i, s):
    # An MQTT string (two bytes of length, then UTF-8) at buf[i]; the new i.
    b = s if isinstance(s, (bytes, bytearray)) else s.encode()
    n = len(b)
    buf[i] = n >> 8
    buf[i + 1] = n & 0xFF
    buf[i + 2 : i + 2 + n] = b
    return i + 2 + n


def _head(buf, first, remaining):
    # Fixed header at buf[0]: packet type/flags and the remaining length;
    # returns where the variable header begins.
    buf[0] = first
    i = 1
    while True:
        b = remaining & 0x7F
        remaining >>= 7
        buf[i] = b | (0x80 if remaining else 0)
        i += 1
        if not remaining:
            return i


def _blen(s):
    return len(s) if isinstance(s, (bytes, bytearray)) else len(s.encode())


class MqttClient:
    def __init__(self, host, port, client_id, user=None, password=None, keepalive_s=60,
                 will=None, tls=None, max_packet=MAX_PACKET, queue_len=QUEUE_LEN):
        """``will``: (topic, payload, retain, qos) the broker publishes when the
        link dies without a DISCONNECT. ``tls``: an ``ssl.SSLContext`` that
        checks the broker's certificate (app.tls.client_context, or
        mqtt.service.tls_context), None for plain TCP.
        ``max_packet``: the largest packet received (and sent) in bytes."""
        if not client_id:
            raise ValueError("the MQTT client id is empty")
        self.host = host
        self.port = port
        self.client_id = client_id
        self.user = user
        self.password = password
        self.keepalive_s = keepalive_s
        self.will = will
        self.tls = tls
        self.max_packet = max_packet
        self.queue_len = queue_len
        self.connected = False
        self.dropped = 0
        self.refused = 0
        self.reconnects = 0
        self._rx = bytearray(max_packet)
        self._rx_mv = memoryview(self._rx)
        self._tx = bytearray(max_packet)
        self._tx_mv = memoryview(self._tx)
        self._queue = []  # [topic, payload, retain, qos, packet id or 0]
        self._acks = []  # packet ids of received QoS 1 messages to acknowledge
        self._subs = []  # (filter, callback, qos)
        self._subs_sent = 0  # how many of them this connection has subscribed to
        self._connect_cbs = []
        self._pid = 0
        self._r = self._w = None
        self._wake = asyncio.Event()
        self._sessions = 0
        self._sent_ms = 0
        self._stop = False
        self._task = None  # run()'s

    # -- what adapters call ------------------------------------------------

    def on_connect(self, callback):
        """Call ``callback()`` after every (re)connection, once the
        subscriptions are renewed: republish discovery and retained state."""
        self._connect_cbs.append(callback)

    def subscribe(self, topic_filter, callback, qos=0):
        """Have ``callback(topic: str, payload: bytes)`` called from the
        reader task for every message matching ``topic_filter``. Kept for
        every later connection; sent now when connected."""
        self._subs.append((topic_filter, callback, qos))
        self._wake.set()  # the writer subscribes, when connected

    def publish(self, topic, payload, retain=False, qos=0):
        """Queue a message (``payload``: str or bytes); never waits. False
        when the queue is full (``refused`` counts it), and for QoS 0 while
        disconnected (at most once: adapters republish their state from
        ``on_connect``). ValueError when it could never be sent (bigger than
        ``max_packet``, or QoS 2)."""
        if qos not in (0, 1):
            raise ValueError("QoS must be 0 or 1")
        if 2 + _blen(topic) + 2 + _blen(payload) + 5 > self.max_packet:
            raise ValueError("MQTT message for %s bigger than %d bytes" % (topic, self.max_packet))
        if not qos and not self.connected:
            return False
        if len(self._queue) >= self.queue_len:
            self.refused += 1
            return False
        self._queue.append([topic, payload, retain, qos, 0])
        self._wake.set()
        return True

    def pending(self):
        """Messages queued, QoS 1 ones waiting for their PUBACK included."""
        return len(self._queue)

    async def close(self):
        """Disconnect cleanly (no last will) and make ``run()`` return."""
        self._stop = True
        task = self._task
        if self.connected:
            try:
                self._tx[0] = 0xE0
                self._tx[1] = 0
                await self._send(2)
            except OSError:
                pass
        self._abort()
        if task is not None and task is not asyncio.current_task():
            task.cancel()  # run() may be waiting on the socket, or in its backoff

    # -- the connection ----------------------------------------------------

    async def run(self):
        """Connect, and connect again (1 s, 2 s, 4 s ... 60 s apart) whenever
        the link is lost or refused; returns after ``close()``."""
        self._stop = False
        self._task = asyncio.current_task()
        try:
            await self._run(BACKOFF_MIN_S)
        except asyncio.CancelledError:
            if not self._stop:
                raise
        finally:
            self._task = None
            self._abort()

    async def _run(self, wait_s):
        while not self._stop:
            try:
                await self._session()
            except (OSError, EOFError, MqttError, ValueError, asyncio.TimeoutError) as e:
                if not self._stop:
                    log.warn("mqtt %s:%d: %s" % (self.host, self.port, e))
            if self.connected:  # it had been up: the first wait is short again
                wait_s = BACKOFF_MIN_S
            self._abort()
            if self._stop:
                break
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, BACKOFF_MAX_S)

    async def _open(self):
        if self.tls is None:
            self._r, self._w = await asyncio.open_connection(self.host, self.port)
        else:  # the host name is the one the broker's certificate must name
            self._r, self._w = await asyncio.open_connection(self.host, self.port, ssl=self.tls,
                                                             server_hostname=self.host)

    async def _session(self):
        await wait_for_ms(self._connect(), CONNECT_TIMEOUT_MS)
        if self._sessions:
            self.reconnects += 1
        self._sessions += 1
        self.connected = True
        log.info("mqtt: connected to %s:%d" % (self.host, self.port))
        writer = asyncio.create_task(self._writer())
        try:
            self._subs_sent = 0
            for q in self._queue:
                if q[4]:
                    q[4] = -1  # not sent on this connection yet: again, as DUP
            self._wake.set()
            for cb in self._connect_cbs:
                try:
                    cb()
                except Exception as e:  # an adapter's bug must not end the link
                    log.error("mqtt: on_connect callback failed", e)
            await self._reader()
        finally:
            writer.cancel()

    async def _connect(self):
        await self._open()
        will = self.will
        n = 10 + 2 + _blen(self.client_id)
        flags = 0x02  # clean session
        if will:
            n += 2 + _blen(will[0]) + 2 + _blen(will[1])
            flags |= 0x04 | (will[3] << 3) | (0x20 if will[2] else 0)
        if self.user:
            n += 2 + _blen(self.user)
            flags |= 0x80
            if self.password:
                n += 2 + _blen(self.password)
                flags |= 0x40
        if n + 5 > self.max_packet:
            raise ValueError("CONNECT bigger than %d bytes" % self.max_packet)
        buf = self._tx
        i = _head(buf, 0x10, n)
        i = _encode_str(buf, i, b"MQTT")
        buf[i] = 4  # protocol level: 3.1.1
        buf[i + 1] = flags
        buf[i + 2] = self.keepalive_s >> 8
        buf[i + 3] = self.keepalive_s & 0xFF
        i = _encode_str(buf, i + 4, self.client_id)
        if will:
            i = _encode_str(buf, i, will[0])
            i = _encode_str(buf, i, will[1])
        if self.user:
            i = _encode_str(buf, i, self.user)
            if self.password:
                i = _encode_str(buf, i, self.password)
        await self._send(i)
        first, n = await self._packet_head(None)
        if first != 0x20 or n != 2:
            raise MqttError("expected CONNACK, got packet 0x%02x" % first)
        await self._fill(self._rx_mv[:2])
        if self._rx[1]:
            raise MqttError("broker refused the connection: %s" % _REFUSED.get(self._rx[1], self._rx[1]))

    def _abort(self):
        self.connected = False
        self._acks = []  # for the broker of this connection only
        w, self._w, self._r = self._w, None, None
        if w is not None:
            try:
                if _MPY:
                    w.s.close()  # MicroPython's Stream.close() leaves the socket open
                else:
                    w.close()
            except OSError:
                pass
        self._wake.set()

    # -- receiving -----------------------------------------------------------

    if _MPY:

        def _fill(self, mv):
            # Read exactly len(mv) bytes into mv: a generator awaited like a
            # coroutine, without a coroutine object per read (a dropped
            # packet is read through the buffer in many of them), and
            # waiting in asyncio's poller (which allocates its entry) only
            # when the socket has nothing yet.
            s = self._r.s
            n = len(mv)
            i = 0
            while i < n:
                got = s.readinto(mv[i:] if i else mv)
                if got is None:  # nothing there yet (or, TLS, a record not complete)
                    yield core._io_queue.queue_read(s)
                    continue
                if not got:
                    raise EOFError("the broker closed the connection")
                i += got

    else:

        async def _fill(self, mv):
            n = len(mv)
            i = 0
            while i < n:
                data = await self._r.read(n - i)
                if not data:
                    raise EOFError("the broker closed the connection")
                mv[i : i + len(data)] = data
                i += len(data)

    async def _packet_head(self, wait_ms):
        # The next packet's first byte and remaining length. Waits at most
        # wait_ms for its first byte (None: CONNECT_TIMEOUT_MS covers it).
        one = self._rx_mv[:1]
        if wait_ms is None:
            await self._fill(one)
        else:
            await wait_for_ms(self._fill(one), wait_ms)
        first = self._rx[0]
        n = 0
        for shift in (0, 7, 14, 21):
            await self._fill(one)
            n |= (self._rx[0] & 0x7F) << shift
            if not self._rx[0] & 0x80:
                return first, n
        self.dropped += 1
        raise MqttError("malformed remaining length")  # no way to find the next packet

    async def _reader(self):
        # Every packet that comes, until the link fails. Nothing at all for
        # 1.5 keep-alive periods (our pings are answered) means it is dead.
        wait_ms = self.keepalive_s * 1500 if self.keepalive_s else None
        rx = self._rx
        while True:
            first, n = await self._packet_head(wait_ms)
            if n > len(rx):
                self.dropped += 1
                log.warn("mqtt: dropping a %d-byte packet (max %d)" % (n, len(rx)))
                while n:  # read through the buffer, never allocated whole
                    k = min(n, len(rx))
                    await self._fill(self._rx_mv[:k])
                    n -= k
                    await asyncio.sleep(0)  # the data may all be there: let the control task run
                continue
            await self._fill(self._rx_mv[:n])
            await asyncio.sleep(0)  # as above: one packet at most between the control task's turns
            kind = first & 0xF0
            if kind == 0x30:
                self._received(first, n)
            elif kind == 0x40 and n == 2:  # PUBACK
                self._acked((rx[0] << 8) | rx[1])
            elif kind == 0x90:  # SUBACK
                for i in range(2, n):
                    if rx[i] == 0x80:
                        log.warn("mqtt: the broker refused a subscription")
            # PINGRESP, UNSUBACK: nothing to do but having heard from the broker

    def _received(self, first, n):
        rx = self._rx
        tl = (rx[0] << 8) | rx[1]
        qos = (first >> 1) & 3
        start = 2 + tl + (2 if qos else 0)
        if start > n or qos == 3:
            self.dropped += 1
            return
        try:
            topic = str(self._rx_mv[2 : 2 + tl], "utf-8")
        except UnicodeError:
            self.dropped += 1
            return
        if qos:
            self._acks.append((rx[2 + tl] << 8) | rx[3 + tl])
            self._wake.set()
        payload = bytes(self._rx_mv[start:n])
        for f, cb, _ in self._subs:
            if topic_matches(f, topic):
                try:
                    cb(topic, payload)
                except Exception as e:  # the link goes on
                    log.error("mqtt: handler for %s failed" % topic, e)

    def _acked(self, pid):
        q = self._queue
        for i in range(len(q)):
            if q[i][3] and q[i][4] == pid:
                q.pop(i)
                return

    # -- sending -------------------------------------------------------------

    async def _send(self, n):
        put(self._w, self._tx_mv[:n])
        await self._w.drain()
        self._sent_ms = ticks_ms()

    async def _writer(self):
        # Sends what is queued, and a PINGREQ when nothing else went out
        # for three quarters of the keep-alive period: the broker gives up
        # at one and a half, and a busy loop may be late.
        keep_ms = self.keepalive_s * 750
        while self.connected:
            self._wake.clear()
            if not await self._send_some():
                if keep_ms:
                    idle = keep_ms - ticks_diff(ticks_ms(), self._sent_ms)
                    if idle <= 0:
                        self._tx[0] = 0xC0
                        self._tx[1] = 0
                        await self._send(2)
                        continue
                    try:
                        await wait_for_ms(self._wake.wait(), idle)
                    except asyncio.TimeoutError:
                        pass
                else:
                    await self._wake.wait()

    async def _send_some(self):
        # One packet, if anything waits: acknowledgements and subscriptions
        # first, then the oldest message not sent on this connection. False
        # when nothing waited.
        buf = self._tx
        if self._acks:
            a = self._acks.pop(0)
            buf[0] = 0x40  # PUBACK
            buf[1] = 2
            buf[2] = a >> 8
            buf[3] = a & 0xFF
            await self._send(4)
            return True
        if self._subs_sent < len(self._subs):
            # One SUBSCRIBE per filter: each fits the buffer on its own.
            f, _, qos = self._subs[self._subs_sent]
            self._subs_sent += 1
            i = _head(buf, 0x82, 2 + 2 + _blen(f) + 1)
            pid = self._next_pid()
            buf[i] = pid >> 8
            buf[i + 1] = pid & 0xFF
            i = _encode_str(buf, i + 2, f)
            buf[i] = qos
            await self._send(i + 1)
            return True
        for q in self._queue:
            if q[4] <= 0:
                topic, payload, retain, qos, _ = q
                dup = 0
                if qos:
                    if q[4] < 0:
                        dup = 0x08
                    q[4] = self._next_pid()
                else:
                    self._queue.remove(q)
                n = 2 + _blen(topic) + (2 if qos else 0) + _blen(payload)
                i = _head(buf, 0x30 | dup | (qos << 1) | (1 if retain else 0), n)
                i = _encode_str(buf, i, topic)
                if qos:
                    buf[i] = q[4] >> 8
                    buf[i + 1] = q[4] & 0xFF
                    i += 2
                b = payload if isinstance(payload, (bytes, bytearray)) else payload.encode()
                buf[i : i + len(b)] = b
                await self._send(i + len(b))
                return True
        return False

    def _next_pid(self):
        self._pid = self._pid % 65535 + 1
        return self._pid

