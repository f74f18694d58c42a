"""The WebSocket client's test cases, run by CPython and by the MicroPython
unix ports alike (tests/ocpp/test_ws.py runs each in a subprocess):

    micropython tests/ocpp/ws_cases.py CASE ws=ws://127.0.0.1:P wss=wss://localhost:Q \
        ca=CA.pem wrongca=OTHER.pem

against tests/ocpp/ws_server.py (the `websockets` package). Prints ``PASS
CASE`` and exits 0, or prints the traceback and exits 1. Cases whose name
ends in ``_sync`` need no server.
"""

import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _here + "/../../firmware")

import asyncio  # noqa: E402

from ocpp import ws as wsmod  # noqa: E402
from ocpp.ws import Backoff, WsClosed, WsError, WsTimeout, connect, for_profile  # noqa: E402

try:
    from time import ticks_diff, ticks_ms
except ImportError:
    import time

    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b


KEY = "secret-key-0123456789"
CFG = {}


def raises(exc, fn, *args):
    try:
        fn(*args)
    except exc as e:
        return e
    raise AssertionError("%s not raised by %r%r" % (exc.__name__, fn, args))


async def araises(exc, coro):
    try:
        await coro
    except exc as e:
        return e
    raise AssertionError("%s not raised" % exc.__name__)


async def echo(ws, text):
    await ws.send(text)
    got = await ws.recv(timeout_ms=5000)
    assert got == text, (len(got), len(text))


def url(path="/ocpp/BOX1", scheme="ws"):
    return CFG[scheme] + path


# -- against the server -------------------------------------------------------


async def case_echo_sizes():
    ws = await connect(url(), max_size=1 << 17)
    assert ws.subprotocol == "ocpp1.6"
    for n in (0, 1, 125, 126, 127, 1000, 65535, 65536, 70000):
        await echo(ws, "e" * n)
    await echo(ws, "zażółć gęślą jaźń \u20ac")
    await echo(ws, '[2,"1","BootNotification",{"chargePointVendor":"x"}]')
    await ws.close()
    assert ws.close_code == 1000


async def case_subprotocol_refused():
    e = await araises(WsError, connect(url("/noproto/BOX1")))
    assert "subprotocol ocpp1.6" in str(e), e


async def case_fragments():
    ws = await connect(url())
    for parts, size in ((3, 1000), (5, 5000), (2, 1), (4, 65536)):
        await ws.send("frag %d %d" % (parts, size))
        got = await ws.recv(timeout_ms=5000)
        assert got == "f" * size, (parts, size, len(got))
    await echo(ws, "after")  # the pings in between were answered, nothing left over
    await ws.close()


async def case_server_ping_answered():
    ws = await connect(url())
    await ws.send("ping")
    assert await ws.recv(timeout_ms=8000) == "pong ok"
    await ws.close()


async def case_our_pings():
    ws = await connect(url())
    ws.ping_interval_s = 1
    t0 = ticks_ms()
    await araises(WsTimeout, ws.recv(timeout_ms=3500))
    assert ticks_diff(ticks_ms(), t0) >= 3500
    assert ws.pings >= 2, ws.pings  # at 1 s, 2 s, 3 s
    assert ws.pongs >= 1 and ws.pongs >= ws.pings - 1, (ws.pings, ws.pongs)
    await echo(ws, "still here")
    ws.ping_interval_s = 0
    pings = ws.pings
    await araises(WsTimeout, ws.recv(timeout_ms=1300))
    assert ws.pings == pings  # off means off
    await ws.close()


async def case_dead_link():
    t0 = ticks_ms()
    ws = await connect(url())
    ws.ping_interval_s = 1
    ws.pong_timeout_ms = 500
    await ws.send("silence")
    e = await araises(WsClosed, ws.recv())
    ms = ticks_diff(ticks_ms(), t0)
    assert e.code == 1006 and "dead link" in e.reason, e
    assert 1500 <= ms < 5000, ms  # the first ping 1 s after connecting, then 0.5 s
    assert ws.closed
    await araises(WsClosed, ws.send("x"))
    print("dead link detected after %d ms" % ms)


async def case_server_close():
    ws = await connect(url())
    await ws.send("close 4001")
    e = await araises(WsClosed, ws.recv(timeout_ms=5000))
    assert (e.code, e.reason) == (4001, "bye"), (e.code, e.reason)
    assert ws.closed and ws.close_code == 4001
    await araises(WsClosed, ws.send("x"))
    await araises(WsClosed, ws.recv())
    await ws.close()  # a no-op now


async def case_client_close():
    ws = await connect(url())
    await echo(ws, "hello")
    await ws.close(1000)
    assert ws.closed and ws.close_code == 1000
    await araises(WsClosed, ws.send("x"))
    # closing while another task waits in recv(): that task sees WsClosed
    ws = await connect(url())
    reader = asyncio.create_task(ws.recv())
    await asyncio.sleep(0.1)
    await ws.close()
    e = await araises(WsClosed, reader)
    assert e.code == 1000, e
    assert ws.closed


async def case_oversize():
    ws = await connect(url(), max_size=1000)
    await ws.send("big 1000")
    assert await ws.recv(timeout_ms=5000) == "b" * 1000
    await ws.send("big 1001")
    e = await araises(WsClosed, ws.recv(timeout_ms=5000))
    assert e.code == 1009 and ws.oversize == 1, (e, ws.oversize)
    ws = await connect(url(), max_size=1000)
    await ws.send("frag 4 2000")
    e = await araises(WsClosed, ws.recv(timeout_ms=5000))
    assert e.code == 1009 and ws.oversize == 1, (e, ws.oversize)


async def case_binary_refused():
    ws = await connect(url())
    await ws.send("binary")
    e = await araises(WsClosed, ws.recv(timeout_ms=5000))
    assert e.code == 1003, e


async def case_protocol_errors():
    # what a broken server may send: each fails the connection with the right code
    for raw, code in (
        ("c100", 1002),  # RSV1 set, no extension agreed
        ("818400000000" + "41414141", 1002),  # a masked frame from a server
        ("8003616263", 1002),  # a continuation with no message begun
        ("0101618101" + "62", 1002),  # a new text message inside a fragmented one
        ("897e007e" + "00" * 126, 1002),  # a ping with 126 bytes (control frames <= 125)
        ("0901" + "61", 1002),  # a fragmented ping
        ("8301" + "61", 1002),  # opcode 3 (reserved)
        ("8102c328", 1007),  # invalid UTF-8
    ):
        ws = await connect(url())
        await ws.send("raw " + raw)
        e = await araises(WsClosed, ws.recv(timeout_ms=5000))
        assert e.code == code, (raw, e)
        assert ws.closed
    ws = await connect(url())
    await araises(TypeError, ws.send(b"bytes"))  # bad input: a clear error, link untouched
    await echo(ws, "fine")
    await ws.close()


async def case_close_while_silent():
    # the server stops reading: our close gets no answer; close() gives up
    # after close_timeout_ms and a task waiting in recv() is woken with WsClosed
    ws = await connect(url())
    ws.close_timeout_ms = 300
    await ws.send("silence")
    reader = asyncio.create_task(ws.recv())
    await asyncio.sleep(0.1)
    t0 = ticks_ms()
    await ws.close()
    e = await araises(WsClosed, reader)
    ms = ticks_diff(ticks_ms(), t0)
    assert ws.closed and e.code == 1000, e
    assert 250 <= ms < 3000, ms


async def case_send_stall():
    # the server stops reading: once the socket buffers are full a send
    # fails after send_timeout_ms instead of holding the send lock for ever
    # (the reader's pings and close() need it too)
    ws = await connect(url(), timeout_ms=700)
    await ws.send("silence")
    reader = asyncio.create_task(ws.recv())
    msg = "s" * 65536
    e = None
    for sent in range(400):  # 26 MB: far more than loopback's buffers hold (~4 MB)
        try:
            await ws.send(msg)
        except WsClosed as err:
            e = err
            break
    assert e is not None and e.code == 1006 and "send stalled" in e.reason, (sent, e)
    assert ws.closed
    e = await araises(WsClosed, reader)  # woken, not left waiting
    t0 = ticks_ms()
    await ws.close()  # at once: nothing left to wait for
    assert ticks_diff(ticks_ms(), t0) < 100
    print("send stalled after %d messages of 64 KiB" % sent)


async def rtt_ms(ws, n, times=15):
    # The median round trip of an n-byte message, in ms.
    msg = "n" * n
    await echo(ws, msg)
    rtts = []
    for _ in range(times):
        t0 = ticks_ms()
        await echo(ws, msg)
        rtts.append(ticks_diff(ticks_ms(), t0))
    rtts.sort()
    return rtts[times // 2]


async def case_no_nagle_stall():
    # A message longer than TX_CHUNK goes out in several writes. With Nagle's
    # algorithm on, each waited for the ACK of the one before, which the
    # server delays by 40 ms: every such message took >= 40 ms on loopback.
    ws = await connect(url())
    for n in (100, 1000, 5000):
        ms = await rtt_ms(ws, n)
        print("round trip of %d bytes: %d ms" % (n, ms))
        assert ms < 25, (n, ms)
    await ws.close()


async def case_stall_mid_frame():
    ws = await connect(url(), timeout_ms=700)
    await ws.send("stall")  # the header and 2 of 5 bytes, then nothing
    e = await araises(WsError, ws.recv())
    assert "a frame stopped half way" in str(e), e
    assert ws.closed
    ws = await connect(url(), timeout_ms=700)
    await ws.send("raw 010161")  # the first fragment of a message, then nothing
    e = await araises(WsError, ws.recv())
    assert "a fragmented message stopped half way" in str(e), e
    assert ws.closed


async def case_connect_timeout():
    t0 = ticks_ms()
    e = await araises(WsError, connect(url("/hang/BOX1"), timeout_ms=500))
    assert "within 500 ms" in str(e), e
    assert ticks_diff(ticks_ms(), t0) < 3000
    e = await araises(WsError, connect("ws://127.0.0.1:1/ocpp/BOX1", timeout_ms=2000))
    assert "failed" in str(e) or "within" in str(e), e


async def case_auth_accepted():
    u, auth, ca = for_profile(1, CFG["ws"] + "/auth", "BOX7", KEY, None)
    ws = await connect(u, auth=auth, ca=ca)
    await ws.send("whoami")
    assert await ws.recv(timeout_ms=5000) == "/auth/BOX7 ocpp1.6"
    await ws.close()


async def case_auth_refused():
    e = await araises(WsError, connect(url("/auth/BOX7"), auth=("BOX7", "wrong-key-0123456789")))
    assert e.status == 401 and "401" in str(e), e
    e = await araises(WsError, connect(url("/auth/BOX7")))
    assert e.status == 401, e
    e = await araises(WsError, connect(url("/auth/BOX8"), auth=("BOX7", KEY)))
    assert e.status == 401, e


def _ca(name):
    with open(CFG[name]) as f:
        return f.read()


async def case_tls_ok():
    u, auth, ca = for_profile(2, CFG["wss"] + "/auth/", "BOX7", KEY, _ca("ca"))
    ws = await connect(u, auth=auth, ca=ca)
    await ws.send("whoami")
    assert await ws.recv(timeout_ms=5000) == "/auth/BOX7 ocpp1.6"
    for n in (0, 125, 126, 20000):
        await echo(ws, "t" * n)
    await ws.send("frag 3 3000")
    assert await ws.recv(timeout_ms=5000) == "f" * 3000
    ms = await rtt_ms(ws, 1000)  # no Nagle stall over TLS either (see no_nagle_stall)
    assert ms < 25, ms
    await ws.close()
    assert ws.close_code == 1000


async def case_tls_wrong_ca():
    e = await araises(WsError, connect(url(scheme="wss"), ca=_ca("wrongca")))
    assert "certificate" in str(e).lower(), e  # refused for its certificate, not for anything else
    print("refused:", e)


async def case_tls_wrong_host():
    wrong = CFG["wss"].replace("localhost", "127.0.0.1")
    assert wrong != CFG["wss"]
    e = await araises(WsError, connect(wrong + "/ocpp/BOX1", ca=_ca("ca")))
    assert "certificate" in str(e).lower() and ("match" in str(e) or "CN" in str(e)), e
    print("refused:", e)


async def case_tls_unavailable():
    # a build without ssl (the 32-bit port): a clear error, not an ImportError
    e = await araises(WsError, connect(url(scheme="wss"), ca=_ca("ca")))
    assert "TLS" in str(e), e


# -- no server needed ---------------------------------------------------------


def case_for_profile_sync():
    assert for_profile(0, "ws://cs.example/ocppj/v1.6", "14452", "", None) == (
        "ws://cs.example/ocppj/v1.6/14452", None, None)
    assert for_profile(1, "ws://cs.example/ocppj/v1.6/", "14452", KEY, None) == (
        "ws://cs.example/ocppj/v1.6/14452", ("14452", KEY), None)
    pem = _ca("ca")
    assert for_profile(2, "wss://cs.example:8443/o", "B1", KEY, pem) == ("wss://cs.example:8443/o/B1", ("B1", KEY), pem)
    raises(ValueError, for_profile, 3, "ws://a/b", "B1", KEY, None)
    raises(ValueError, for_profile, 0, "wss://a/b", "B1", KEY, None)  # profile 0 is plain ws
    raises(ValueError, for_profile, 2, "ws://a/b", "B1", KEY, pem)  # profile 2 is wss only
    raises(ValueError, for_profile, 1, "ws://a/b", "B1", "", None)  # no key
    raises(ValueError, for_profile, 2, "wss://a/b", "B1", KEY, None)  # no CA
    raises(ValueError, for_profile, 2, "wss://a/b", "B1", KEY, "not a certificate")
    raises(ValueError, for_profile, 0, "http://a/b", "B1", KEY, None)
    for bad in ("", "a/b", "a b", "a:b", "a?b", "a#b", "\u00e9"):
        raises(ValueError, for_profile, 0, "ws://a/b", bad, KEY, None)


def case_parse_url_sync():
    assert wsmod.parse_url("ws://h/p/q") == (False, "h", 80, "/p/q")
    assert wsmod.parse_url("wss://h:8443") == (True, "h", 8443, "/")
    assert wsmod.parse_url("ws://[::1]:9000/x") == (False, "::1", 9000, "/x")
    for bad in ("http://h/", "ws://h:x/", "ws://h:0/", "ws://h:70000/", "ws:///p", "ws://u:p@h/", "ws://h/a b"):
        raises(ValueError, wsmod.parse_url, bad)


def case_backoff_sync():
    b = Backoff(10, 6, 3)
    for want in (10, 20, 40, 80, 80, 80):
        w = b.next_s()
        assert want <= w <= want + 6, (want, w)
    b.reset()
    assert 10 <= b.next_s() <= 16
    b = Backoff(10, 0, 9)
    assert [b.next_s() for _ in range(12)] == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 5120, 5120]
    b = Backoff(5000, 0, 60)  # bounded, and no long ints on a 32-bit port
    for _ in range(70):
        assert b.next_s() <= Backoff.MAX_S
    seen = set(Backoff(0, 3, 0).next_s() for _ in range(200))
    assert seen == {0, 1, 2, 3}, seen  # the random part covers its whole range
    for args in ((-1, 6, 9), (10, -1, 9), (10, 6, -1), (10, "6", 9), (1.5, 6, 9)):
        raises(ValueError, Backoff, *args)


def case_sha1_sync():
    from ocpp.sha1 import sha1
    import binascii

    for data, digest in (
        (b"", b"da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        (b"abc", b"a9993e364706816aba3e25717850c26c9cd0d89d"),
        (b"a" * 55, b"c1c8bbdc22796e28c0e15163d20899b65621d65a"),
        (b"a" * 56, b"c2db330f6083854c99d4b5bfb6e8f29f201be699"),
        (b"a" * 64, b"0098ba824b5c16427bd7a1122a5a442a25ec644d"),
        (b"dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
         b"b37a4f2cc0624f1690f64606cf385945b2bec4ea"),  # RFC 6455 1.3's example
    ):
        assert binascii.hexlify(sha1(data)) == digest, data


def case_basic_auth_sync():
    # RFC 7617's example
    assert wsmod.basic_auth("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    raises(ValueError, wsmod.basic_auth, "a:b", "c")


def main(argv):
    name = argv[0]
    for arg in argv[1:]:
        k, v = arg.split("=", 1)
        CFG[k] = v
    fn = globals()["case_" + name]
    if name.endswith("_sync"):
        fn()
    else:
        asyncio.run(fn())
    print("PASS", name)


main(sys.argv[1:])
