"""A fault-injecting link: a loopback TCP proxy between a Modbus client and a
TCP meter server, which misbehaves on request, per unit id.

It understands the framing (``"rtu"``: RTU frames over TCP, as through a
serial-to-Ethernet converter; ``"mbap"``: Modbus TCP), so it can cut the
byte streams into requests and answers and pick on one meter. For each
request it asks ``fault(unit)`` (by default ``faults.get``: set
``link.faults[unit]``) for one of ``MODES``:

``None``         pass it through.
``"NoAnswer"``   swallow the request: the client times out.
``"Crc"``        pass it, but garble the answer. RTU: one bit of the CRC
                 flipped. Modbus TCP has no CRC: the answer arrives as a
                 whole MBAP frame whose PDU lacks its last byte (the length
                 field agrees), so its byte count does not.
``"Exception"``  pass it with its start address moved to one no meter holds:
                 the real server answers with a real exception 0x02.
``"Slow"``       answer ``slow_ms`` late. Answers keep their order, so the
                 late one arrives while the client waits for its next.
``"Unplugged"``  close the connection instead of passing the request; the
                 next connection is accepted and closed the same way on its
                 first request for that unit. (The link stands for the cable
                 to the meter; a meter that falls silent on a shared RS485
                 bus is ``"NoAnswer"``.)

It runs on a loop thread of its own: ``start()``, ``stop()``, ``port``.
"""

import asyncio
import collections
import struct
import sys

from evsectl.loopthread import LoopThread

MODES = (None, "NoAnswer", "Crc", "Exception", "Slow", "Unplugged")
# A start address beyond every meter model's registers (models.py tops out at 0x0503).
ILLEGAL_START = 0xFF00


def crc16(data):
    """Modbus RTU's CRC (polynomial 0xA001, from 0xFFFF), as the two bytes sent."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


def rtu_length(buf, request):
    """Length of the RTU frame at the start of ``buf``; 0 until enough has
    arrived to tell; all of ``buf`` for a function this link does not know."""
    if len(buf) < 3:
        return 0
    fc = buf[1]
    if request:
        if fc in (1, 2, 3, 4, 5, 6):
            n = 8
        elif fc in (15, 16):
            n = 9 + buf[6] if len(buf) >= 7 else 0
        else:
            n = len(buf)
    elif fc & 0x80:
        n = 5
    elif fc in (1, 2, 3, 4):
        n = 5 + buf[2]
    elif fc in (5, 6, 15, 16):
        n = 8
    else:
        n = len(buf)
    return n if 0 < n <= len(buf) else 0


def mbap_length(buf, request):
    """Length of the MBAP frame at the start of ``buf``; 0 until it is all there."""
    if len(buf) < 7:
        return 0
    n = 6 + int.from_bytes(buf[4:6], "big")
    return n if n <= len(buf) else 0


class FaultLink:
    """Listens on 127.0.0.1:``port`` (0: any free port), passes on to the
    meter server at ``upstream_host``:``upstream_port``. ``fault(unit)``, if
    given, replaces the ``faults`` dict; it may block (it runs in a worker
    thread)."""

    def __init__(self, upstream_port, framing="rtu", fault=None, slow_ms=500, upstream_host="127.0.0.1", port=0):
        if framing not in ("rtu", "mbap"):
            raise ValueError("framing must be rtu or mbap, not %r" % framing)
        self.upstream = (upstream_host, upstream_port)
        self.rtu = framing == "rtu"
        self.faults = {}
        self.fault = fault or self.faults.get
        self.slow_ms = slow_ms
        self.port = port
        self._loop = None
        self._server = None

    def start(self):
        self._loop = LoopThread("fault-link")
        self._server = self._loop.run(asyncio.start_server(self._connection, "127.0.0.1", self.port))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self):
        if self._loop is not None:
            self._loop.run(_close(self._server))
            self._loop.close()  # also ends the connections' tasks, closing their sockets
            self._loop = None

    # -- one client connection (on the loop thread) --

    async def _connection(self, client_r, client_w):
        try:
            meter_r, meter_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return
        modes = collections.deque()  # the mode of each request passed on, oldest first
        answers = asyncio.Queue()  # (when due, frame) for the client, in order
        tasks = [asyncio.create_task(c) for c in (self._requests(client_r, meter_w, modes),
                                                   self._answers(meter_r, modes, answers),
                                                   self._deliver(answers, client_w))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)  # a reset connection is no news here
            client_w.close()
            meter_w.close()

    async def _requests(self, client_r, meter_w, modes):
        buf = b""
        while data := await client_r.read(512):
            buf += data
            while n := self._length(buf, True):
                frame, buf = buf[:n], buf[n:]
                mode = await self._mode(frame)
                if mode == "Unplugged":
                    return
                if mode == "NoAnswer":
                    continue
                if mode == "Exception":
                    frame = self._move_address(frame)
                modes.append(mode)
                meter_w.write(frame)

    async def _answers(self, meter_r, modes, answers):
        loop = asyncio.get_running_loop()
        buf = b""
        while data := await meter_r.read(512):
            buf += data
            while n := self._length(buf, False):
                frame, buf = buf[:n], buf[n:]
                mode = modes.popleft() if modes else None
                if mode == "Crc":
                    frame = self._garble(frame)
                answers.put_nowait((loop.time() + (self.slow_ms / 1000 if mode == "Slow" else 0), frame))

    async def _deliver(self, answers, client_w):
        loop = asyncio.get_running_loop()
        while True:
            due, frame = await answers.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            client_w.write(frame)
            await client_w.drain()

    # -- frames --

    def _length(self, buf, request):
        return (rtu_length if self.rtu else mbap_length)(buf, request)

    async def _mode(self, frame):
        unit = frame[0] if self.rtu else frame[6]
        # The fault may come from an HTTP fetch (evsectl sim); the loop must not wait on it.
        mode = await asyncio.to_thread(self.fault, unit)
        if mode not in MODES:
            print("fault link: unknown fault %r for unit %d, passing" % (mode, unit), file=sys.stderr)
            return None
        return mode

    def _move_address(self, frame):
        start = struct.pack(">H", ILLEGAL_START)
        if self.rtu:
            body = frame[:2] + start + frame[4:-2]
            return body + crc16(body)
        return frame[:8] + start + frame[10:]

    def _garble(self, frame):
        if self.rtu:
            return frame[:-1] + bytes([frame[-1] ^ 0x01])
        return frame[:4] + struct.pack(">H", len(frame) - 7) + frame[6:-1]


async def _close(server):
    server.close()  # on the loop's own thread: asyncio servers are not thread-safe
