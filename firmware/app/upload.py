"""Upload a file from flash to an FTP or HTTP server, streaming: at most
``CHUNK`` bytes of it in RAM at a time, whatever its size.

    await upload("ftp://user:pass@host:21/incoming", "diag.txt", "diag-CP1.txt")
    await upload("http://host:8080/upload", "diag.txt", "diag-CP1.txt")

``location`` is a directory: the file is stored as ``<location>/<name>``.

- ``ftp://[user[:password]@]host[:port][/dir]``: passive mode (PASV; the
  data connection goes to the control connection's host, whatever address
  PASV names, so a server behind NAT works), binary (TYPE I), STOR. No
  user is ``anonymous``.
- ``http://[user[:password]@]host[:port][/dir]``: one HTTP/1.0 PUT with a
  Content-Length (Basic auth if a user is given); any 2xx is success.

Plain connections only (the charger holds no CA certificates for these).
Any failure raises UploadError with what the server said. Imported only by
what uploads (OCPP's GetDiagnostics), so it costs no heap otherwise.
"""

import asyncio
import binascii
import os

from app.config import parse_host_path

CHUNK = 512
TIMEOUT_S = 10  # per connection attempt and per reply


class UploadError(Exception):
    """The upload failed; the message says where and what the server said."""


def parse(location):
    """(scheme, host, port, user, password, directory) of ``location``, or None.
    ``directory`` has no trailing slash ("" for the root)."""
    if not isinstance(location, str):
        return None
    scheme, sep, rest = location.partition("://")
    if not sep or scheme not in ("ftp", "http"):
        return None
    hostport, _, path = rest.partition("/")
    creds, at, hostport = hostport.rpartition("@")
    user, _, password = creds.partition(":")
    if at and not user:
        return None
    where = parse_host_path(hostport, path, 21 if scheme == "ftp" else 80, "?#")
    return None if where is None else (scheme,) + where[:2] + (user, password, where[2])


async def upload(location, source, name):
    """Store the flash file ``source`` at ``location`` as ``name``."""
    where = parse(location)
    if where is None:
        raise UploadError("bad location %s" % location)
    scheme, host, port, user, password, directory = where
    size = os.stat(source)[6]
    path = directory + "/" + name
    if scheme == "ftp":
        await _ftp(host, port, user or "anonymous", password if user else "anonymous@", path, source)
    else:
        await _put(host, port, user, password, path, source, size)


async def _connect(host, port):
    try:
        return await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT_S)
    except (OSError, asyncio.TimeoutError) as e:
        raise UploadError("%s:%d unreachable (%s)" % (host, port, "timeout" if isinstance(e, asyncio.TimeoutError)
                                                      else repr(e)))


async def _close(w):
    try:
        w.close()
        await w.wait_closed()
    except (OSError, AttributeError):
        pass


async def _readline(r):
    try:
        line = await asyncio.wait_for(r.readline(), TIMEOUT_S)
    except asyncio.TimeoutError:
        raise UploadError("the server stopped answering")
    if not line:
        raise UploadError("the server closed the connection")
    return line


async def _send_file(w, source):
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(source, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                return
            w.write(bytes(view[:n]))  # a copy: the buffer is refilled before the transport has sent it
            await w.drain()


# -- FTP (RFC 959, passive mode) ---------------------------------------------------


async def _reply(r):
    """(code, text) of the server's next reply, multi-line ones (``123-``
    ... ``123 ``) read to their end."""
    line = await _readline(r)
    code = line[:3]
    if line[3:4] == b"-":
        while True:
            more = await _readline(r)
            if more[:3] == code and more[3:4] == b" ":
                break
    try:
        return int(code), line.decode().strip()
    except (ValueError, UnicodeError):
        raise UploadError("not an FTP server: %r" % line[:40])


async def _command(r, w, text, ok, shown=None):
    """Send ``text``; the reply, if its code's first digit is in ``ok``."""
    w.write(text.encode() + b"\r\n")
    await w.drain()
    code, said = await _reply(r)
    if code // 100 not in ok:
        raise UploadError("FTP %s: %s" % (shown or text.split(" ")[0], said))
    return code, said


async def _ftp(host, port, user, password, path, source):
    r, w = await _connect(host, port)
    try:
        code, said = await _reply(r)
        if code != 220:
            raise UploadError("FTP greeting: %s" % said)
        code, said = await _command(r, w, "USER " + user, (2, 3))
        if code == 331:
            await _command(r, w, "PASS " + password, (2,), "PASS")
        await _command(r, w, "TYPE I", (2,))
        said = (await _command(r, w, "PASV", (2,)))[1]
        try:  # 227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)
            numbers = said[said.index("(") + 1:said.index(")")].split(",")
            data_port = int(numbers[4]) * 256 + int(numbers[5])
        except (ValueError, IndexError):
            raise UploadError("FTP PASV: %s" % said)
        dr, dw = await _connect(host, data_port)
        try:
            await _command(r, w, "STOR " + path, (1,))
            await _send_file(dw, source)
        finally:
            await _close(dw)
        code, said = await _reply(r)
        if code // 100 != 2:
            raise UploadError("FTP STOR: %s" % said)
        try:
            await _command(r, w, "QUIT", (2,))
        except UploadError:
            pass  # stored: a server that hangs up without a goodbye changes nothing
    finally:
        await _close(w)


# -- HTTP PUT --------------------------------------------------------------------


async def _put(host, port, user, password, path, source, size):
    r, w = await _connect(host, port)
    try:
        head = "PUT %s HTTP/1.0\r\nHost: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n" % (path, host, size)
        if user:
            token = binascii.b2a_base64(("%s:%s" % (user, password)).encode()).strip().decode()
            head += "Authorization: Basic %s\r\n" % token
        w.write((head + "\r\n").encode())
        await _send_file(w, source)
        status = (await _readline(r)).split()
        if len(status) < 2 or not status[1].startswith(b"2"):
            raise UploadError("HTTP PUT %s: %s" % (path, b" ".join(status[1:]).decode() or "no answer"))
    finally:
        await _close(w)
