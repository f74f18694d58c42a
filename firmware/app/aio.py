"""The asyncio, socket and tick calls the firmware needs, spelt the same
under MicroPython and CPython (which lacks the millisecond variants and
names the socket calls differently)."""

import asyncio
import io
import socket

try:
    from time import ticks_ms, ticks_diff, ticks_add
    from asyncio import core

    sleep_ms = asyncio.sleep_ms

    def wait_for_ms(aw, ms):
        # Looked up when first called: asyncio's submodule that holds it
        # (0.7 KB of heap) loads with the first meter, not at boot.
        return asyncio.wait_for_ms(aw, ms)

    def accept(listener):
        """Wait for the next connection on ``listener`` (a non-blocking
        listening socket) and accept it: (socket, address). A generator
        awaited like a coroutine, as asyncio's own stream methods are: it
        waits in asyncio's poller, so no task or stream object is made for
        a connection before it is accepted."""
        yield core._io_queue.queue_read(listener)
        return listener.accept()

    async def streams(sock, addr):
        """The (reader, writer) pair of an accepted socket; one object
        under MicroPython."""
        sock.setblocking(False)
        stream = asyncio.StreamReader(sock, {"peername": addr})
        return stream, stream

    def read_into(reader, buf):
        """Read what has come, at most len(buf) bytes, into ``buf``; 0 at
        the end of the stream."""
        return reader.readinto(buf)

    def put(writer, data):
        """Hand ``data`` (bytes, or a memoryview of a buffer the caller
        reuses) to ``writer``: what the socket does not take at once is
        copied, to go with the next ``drain``."""
        writer.write(data)

    def text_buffer(size):
        """A reused in-memory file that JSON is written into (json.dump,
        app.jsonstream), ``size`` bytes made at once; its str writes are
        stored as UTF-8, ``tell()`` is the length in bytes."""
        return io.BytesIO(size)

except (ImportError, AttributeError):  # CPython
    from evse.compat import ticks_diff, ticks_add
    from app.clock import _hw_ticks as ticks_ms

    def sleep_ms(ms):
        return asyncio.sleep(ms / 1000)

    def wait_for_ms(aw, ms):
        return asyncio.wait_for(aw, ms / 1000)

    async def accept(listener):
        return await asyncio.get_running_loop().sock_accept(listener)

    async def streams(sock, addr):
        return await asyncio.open_connection(sock=sock)

    async def read_into(reader, buf):
        data = await reader.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def put(writer, data):
        # The transport may keep what it has not sent as given: a reused
        # buffer is copied.
        writer.write(bytes(data))

    class _TextBuffer(io.BytesIO):
        def write(self, data):
            return super().write(data.encode() if isinstance(data, str) else data)

    def text_buffer(size):
        return _TextBuffer()


def listen(host, port, backlog):
    """A non-blocking TCP socket listening on ``host``:``port``."""
    family, _, _, _, addr = socket.getaddrinfo(host, port)[0]
    sock = socket.socket(family)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock
