"""A Modbus TCP server holding the Power Brain wallbox's registers, for the
cFos Charging Manager and evcc's ``cfos`` charger (CfosModbus, port
CfosModbusPort, 4701 as on a Power Brain).

    server = ModbusServer(wallbox, steer, clock)
    await server.run("0.0.0.0", 4701)

Unit 1 only (another unit id: exception 0x0B, gateway target failed to
respond); function codes 3 (read holding registers), 6 (write one) and 16
(write several); anything else is exception 1. The registers and their
checks are cfos.registers'; a refused request changes nothing.

Every request to unit 1 counts as the manager being there (cfos.steer):
its limit and enable last CfosTimeoutS beyond the last one.

Bounded: at most 2 connections at a time (_MAX_CONNECTIONS: one more is
closed at once), a request's body within 3 s of its header, a connection
silent for 2 minutes (_IDLE_MS) closed; a frame is at most 260 bytes, as
Modbus TCP allows.
"""

import asyncio
import struct

from app import log
from app.aio import sleep_ms, wait_for_ms
from cfos.registers import ModbusError, ILLEGAL_FUNCTION, ILLEGAL_VALUE
from evse.compat import const

_UNIT = const(1)
_MAX_CONNECTIONS = const(2)
_IDLE_MS = const(120000)  # evcc polls every 30 s by default, the cFos manager every few seconds
_FRAME_MS = const(3000)  # the rest of a frame once its header is in
MAX_WRITE = const(123)  # registers one FC 16 request may write (the Modbus limit)
_WATCH_MS = const(1000)
_SERVER_FAILURE = const(4)
_TARGET_FAILED = const(0x0B)


def answer(regs, unit, pdu, now):
    """The response PDU (bytes) to the request PDU ``pdu`` for ``unit``."""
    fc = pdu[0] if pdu else 0
    try:
        if unit != _UNIT:
            raise ModbusError(_TARGET_FAILED)
        if fc == 3 or fc == 6:
            if len(pdu) != 5:
                raise ModbusError(ILLEGAL_VALUE)
            addr, n = struct.unpack(">HH", pdu[1:5])
            if fc == 6:
                regs.write(addr, (n,), now)
                return bytes(pdu)  # the echo
            words = regs.read(addr, n)
            return struct.pack(">BB%dH" % n, 3, 2 * n, *words)
        if fc == 16:
            if len(pdu) < 6:
                raise ModbusError(ILLEGAL_VALUE)
            addr, n, size = struct.unpack(">HHB", pdu[1:6])
            if not 1 <= n <= MAX_WRITE or size != 2 * n or len(pdu) != 6 + size:
                raise ModbusError(ILLEGAL_VALUE)
            regs.write(addr, struct.unpack(">%dH" % n, pdu[6:]), now)
            return struct.pack(">BHH", 16, addr, n)
        raise ModbusError(ILLEGAL_FUNCTION)
    except ModbusError as e:
        return bytes((fc | 0x80, e.code))
    except Exception as e:  # a bug, or no heap: the client hears of it, the charger goes on
        log.error("cfos: Modbus request failed", e)
        return bytes((fc | 0x80, _SERVER_FAILURE))


class ModbusServer:
    """The server on the wallbox's registers ``regs``; every request to unit
    1 tells ``steer`` the manager is there."""

    def __init__(self, regs, steer, clock):
        self.regs = regs
        self.steer = steer
        self.clock = clock
        self.connections = 0

    async def run(self, host, port):
        """Serve for ever (cancel to stop); meanwhile, once a second, end
        the word of a manager that has fallen silent (cfos.steer)."""
        server = await asyncio.start_server(self._client, host, port)
        log.info("cfos: Modbus TCP server on port %d, unit %d" % (port, _UNIT))
        try:
            while True:
                self.steer.expire(self.clock.ticks())
                await sleep_ms(_WATCH_MS)
        finally:
            server.close()

    def handle(self, unit, pdu):
        now = self.clock.ticks()
        if unit == _UNIT:
            self.steer.heard(now)
        return answer(self.regs, unit, pdu, now)

    async def _client(self, reader, writer):
        if self.connections >= _MAX_CONNECTIONS:
            await _close(writer)
            return
        self.connections += 1
        try:
            while True:
                head = await wait_for_ms(reader.readexactly(7), _IDLE_MS)
                tid, proto, length, unit = struct.unpack(">HHHB", head)
                if proto != 0 or not 2 <= length <= 254:
                    return  # not Modbus TCP: nothing sensible to answer
                pdu = await wait_for_ms(reader.readexactly(length - 1), _FRAME_MS)
                out = self.handle(unit, pdu)
                writer.write(struct.pack(">HHHB", tid, 0, len(out) + 1, unit) + out)
                await writer.drain()
        except Exception:  # silent too long, closed, reset: the manager connects again
            pass
        finally:
            self.connections -= 1
            await _close(writer)


async def _close(writer):
    try:
        writer.close()
        await writer.wait_closed()
    except Exception:  # gone already
        pass
