"""Links to meters: one request out, one checked answer back, or a ModbusError.

    RtuLink   RTU frames over a byte port: the board's RS485 UART, a serial
              device, or a TCP socket to a serial-to-Ethernet converter
    MbapLink  Modbus TCP to a gateway

A *port* moves bytes and nothing else:

    async send(data)
    async recv(n, timeout_ms) -> up to n bytes, b"" when nothing came in time
    close()                   drop the connection (reopened on the next send)

Everything awaits, so the control task keeps its period while a meter is slow
or silent. A link never leaves the bus out of step: before every RTU request
it waits for the line to be silent, throwing away whatever is left of a late
or garbled answer; Modbus TCP answers carry a transaction id, and answers to
older requests are skipped.
"""

import asyncio

from app.aio import sleep_ms, ticks_add, ticks_diff, ticks_ms, wait_for_ms
from meters import modbus
from meters.modbus import ModbusError, TIMEOUT, GARBLED

_QUIET_ROUNDS = 20  # a line that never falls silent is a dead bus, not a reason to hang


class TcpPort:
    """A TCP connection, opened on first use and after any failure."""

    def __init__(self, host, port, connect_timeout_ms=2000):
        self.host = host
        self.port = port
        self.connect_timeout_ms = connect_timeout_ms
        self._reader = self._writer = None

    async def send(self, data):
        if self._writer is None:
            self._reader, self._writer = await wait_for_ms(
                asyncio.open_connection(self.host, self.port), self.connect_timeout_ms
            )
        self._writer.write(data)
        await self._writer.drain()

    async def recv(self, n, timeout_ms):
        if self._reader is None:
            return b""
        try:
            data = await wait_for_ms(self._reader.read(n), timeout_ms)
        except asyncio.TimeoutError:
            return b""
        if not data:
            self.close()
            raise OSError("connection closed by the meter")
        return data

    def close(self):
        w, self._reader, self._writer = self._writer, None, None
        if w is not None:
            try:
                w.close()
            except OSError:
                pass


async def _recv_exactly(port, n, deadline):
    data = b""
    while len(data) < n:
        left = ticks_diff(deadline, ticks_ms())
        chunk = await port.recv(n - len(data), left) if left > 0 else b""
        if not chunk:
            raise ModbusError(GARBLED if data else TIMEOUT)
        data += chunk
    return data


class RtuLink:
    """Modbus RTU. ``silence_ms``: the quiet the line needs between frames
    (3.5 characters at the bus speed, or the meter's own minimum, whichever
    is longer)."""

    def __init__(self, port, silence_ms, timeout_ms):
        self.port = port
        self.silence_ms = silence_ms
        self.timeout_ms = timeout_ms
        self.sent = 0  # bytes on the wire, both ways: for the figures
        self.received = 0
        self._out_of_step = False

    async def read(self, unit, start, count):
        port = self.port
        try:
            await self._quiet()
            request = modbus.rtu_request(unit, start, count)
            await port.send(request)
            self.sent += len(request)
            deadline = ticks_add(ticks_ms(), self.timeout_ms)
            head = await _recv_exactly(port, 3, deadline)
            frame = head + await _recv_exactly(port, modbus.rtu_answer_size(head) - 3, deadline)
            self.received += len(frame)
            return modbus.rtu_check(frame, unit, count)
        except OSError:
            port.close()
            self._out_of_step = True
            raise ModbusError(TIMEOUT)
        except ModbusError as e:
            self._out_of_step = e.kind != modbus.EXCEPTION
            raise

    async def _quiet(self):
        """Wait until nothing has arrived for silence_ms, discarding what does.

        After a failed exchange the answer may still be on its way (a slow
        meter, the rest of a garbled frame): then the line must stay quiet
        for a whole response timeout, so that answer is thrown away here and
        never taken for the answer to the next request."""
        window = self.timeout_ms if self._out_of_step else self.silence_ms
        self._out_of_step = False
        for _ in range(_QUIET_ROUNDS):
            if not await self.port.recv(256, window):
                return
        raise ModbusError(GARBLED)


class MbapLink:
    """Modbus TCP (MBAP header, no CRC) to a gateway."""

    def __init__(self, port, timeout_ms):
        self.port = port
        self.timeout_ms = timeout_ms
        self._tid = 0
        self.sent = 0
        self.received = 0

    async def read(self, unit, start, count):
        port = self.port
        self._tid = (self._tid + 1) & 0xFFFF
        try:
            request = modbus.mbap_request(self._tid, unit, start, count)
            await port.send(request)
            self.sent += len(request)
            deadline = ticks_add(ticks_ms(), self.timeout_ms)
            while True:
                head = await _recv_exactly(port, 6, deadline)
                size = head[4] << 8 | head[5]
                if not 2 <= size <= 260:
                    raise ModbusError(GARBLED)
                frame = head + await _recv_exactly(port, size, deadline)
                self.received += len(frame)
                if frame[0] << 8 | frame[1] == self._tid:
                    return modbus.mbap_check(frame, self._tid, unit, count)
                # The late answer to an earlier request: skip it.
        except ModbusError as e:
            if e.kind != modbus.EXCEPTION:
                port.close()  # a fresh connection is the only sure way back in step
            raise
        except OSError:
            port.close()
            raise ModbusError(TIMEOUT)


class SerialPort:
    """A port over a byte stream with ``write``, ``any`` and ``read``: the
    ESP32's UART (with ``de``, the RS485 driver-enable pin) or a serial device
    on a Linux machine (hal.serial_posix)."""

    def __init__(self, stream, de=None):
        self.stream = stream
        self.de = de

    async def send(self, data):
        s = self.stream
        if self.de is not None:
            self.de.value(1)
        s.write(data)
        if self.de is not None:
            while not s.txdone():  # release the bus only after the last stop bit
                await sleep_ms(1)
            self.de.value(0)

    async def recv(self, n, timeout_ms):
        s = self.stream
        deadline = ticks_add(ticks_ms(), timeout_ms)
        while True:
            k = s.any()
            if k:
                return s.read(k if k < n else n)
            if ticks_diff(deadline, ticks_ms()) <= 0:
                return b""
            await sleep_ms(1)

    def close(self):
        pass  # a serial line has nothing to reconnect
