"""A real WebSocket server (the `websockets` package) for the client tests.

    python tests/ocpp/ws_server.py [--tls CERT KEY]

Prints ``PORT <n>`` once it listens on 127.0.0.1 (port chosen by the OS) and
serves until it is terminated. Run it in a subprocess: the tests' own
process has firmware/ first on sys.path, where `ocpp` is our package.

The path picks what the server does (the BoxID is the last part):
  /ocpp/<box>         echo each text message, except the commands below
  /noproto/<box>      accept the upgrade but select no subprotocol
  /auth/<box>         require HTTP Basic "<box>:secret-key-0123456789" (else 401)
  /hang/<box>         never answer the upgrade
Commands (a text message): "ping" (ping the client, answer "pong ok" or
"pong missing"), "close <code>" (close with that code, reason "bye"),
"frag <parts> <size>" (a message of <size> 'f's in <parts> fragments, a
ping between the first two), "big <size>" (one message of <size> 'b's),
"binary" (a binary message), "silence" (stop reading: pings go unanswered),
"stall" (half a frame, then nothing), "raw <hex>" (these bytes as they
are, then nothing: frames websockets would never send), "whoami" (the path and subprotocol).
"""

import asyncio
import base64
import ssl
import sys
from http import HTTPStatus

from websockets.asyncio.server import serve

KEY = "secret-key-0123456789"


def select_subprotocol(connection, subprotocols):
    if connection.request.path.startswith("/noproto/"):
        return None
    return "ocpp1.6" if "ocpp1.6" in subprotocols else None


async def process_request(connection, request):
    path = request.path
    if path.startswith("/hang/"):
        await asyncio.sleep(3600)
    if path.startswith("/auth/"):
        box = path.rsplit("/", 1)[1]
        want = "Basic " + base64.b64encode(("%s:%s" % (box, KEY)).encode()).decode()
        if request.headers.get("Authorization") != want:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "bad credentials\n")
    return None


async def handler(ws):
    async for message in ws:
        if isinstance(message, bytes):
            await ws.send(b"binary?")
            continue
        cmd = message.split()
        if message == "ping":
            waiter = await ws.ping(b"srv")
            try:
                await asyncio.wait_for(waiter, 5)
                await ws.send("pong ok")
            except asyncio.TimeoutError:
                await ws.send("pong missing")
        elif cmd[:1] == ["close"]:
            await ws.close(int(cmd[1]), "bye")
        elif cmd[:1] == ["frag"]:
            parts, size = int(cmd[1]), int(cmd[2])
            step = -(-size // parts) if size else 1
            chunks = [("f" * size)[i : i + step] for i in range(0, size, step)] or [""]

            async def fragments():
                for i, chunk in enumerate(chunks):
                    yield chunk
                    if i == 0:
                        await ws.ping(b"mid")

            await ws.send(fragments())
        elif cmd[:1] == ["big"]:
            await ws.send("b" * int(cmd[1]))
        elif message == "binary":
            await ws.send(b"\x00\x01")
        elif message == "silence":
            ws.transport.pause_reading()
            await asyncio.sleep(3600)
        elif cmd[:1] == ["raw"]:
            ws.transport.write(bytes.fromhex(cmd[1]))
            await asyncio.sleep(3600)
        elif message == "stall":
            ws.transport.write(b"\x81\x05ab")
            await asyncio.sleep(3600)
        elif message == "whoami":
            await ws.send("%s %s" % (ws.request.path, ws.subprotocol))
        else:
            await ws.send(message)


async def main(argv):
    context = None
    if argv[:1] == ["--tls"]:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(argv[1], argv[2])
    async with serve(handler, "127.0.0.1", 0, ssl=context, ping_interval=None, max_size=2**20,
                     subprotocols=["ocpp1.6"], select_subprotocol=select_subprotocol,
                     process_request=process_request, open_timeout=None) as server:
        port = server.sockets[0].getsockname()[1]
        print("PORT %d" % port, flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
