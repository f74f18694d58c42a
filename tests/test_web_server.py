"""The WebAPI's server (app.webapi.Server) degrades, never dies: whatever
fails while a request is read or answered, MemoryError included, the
client gets a whole answer, a clean 503 or a closed connection, and the
server goes on listening on the socket it made once. Its connections are
bounded in number and in time. Under both interpreters: MicroPython's
asyncio and CPython's differ in how they treat a failed connection."""

import http.client
import socket
import subprocess
import sys
import time
from pathlib import Path

import microdot
import pytest

from evsectl import sim as simtool

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
sys.path.insert(0, str(FIRMWARE))

from app.webapi import BUSY  # noqa: E402

SERVER = """
import sys
sys.path[:0] = [%r, %r]
import asyncio
from app.webapi import Server

app = Server(connections=2, buffer=256)


def failing(size):
    yield '{"Text": "' + "x" * size
    raise MemoryError("injected")


@app.route("/fails-early")
async def fails_early(req):
    return failing(10), 200, {"Content-Type": "application/json"}


@app.route("/fails-late")
async def fails_late(req):
    return failing(1000), 200, {"Content-Type": "application/json"}


@app.route("/raises")
async def raises(req):
    def body():
        yield "{"
        raise ValueError("injected")

    return body(), 200, {"Content-Type": "application/json"}


@app.route("/fine")
async def fine(req):
    return {"ok": True}


@app.route("/restart")
async def restart(req):
    asyncio.create_task(cancel_later())
    return {"restarting": True}


serving = []


async def cancel_later():
    await asyncio.sleep(0.05)
    serving[0].cancel()


async def main():
    # As app.runtime runs the web task: a failed or cancelled server is started again.
    while True:
        serving[:] = [asyncio.create_task(app.start_server(host="127.0.0.1", port=%d))]
        try:
            await serving[0]
        except BaseException as e:
            print("server ended:", repr(e))
        await asyncio.sleep(0.05)


asyncio.run(main())
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["micropython", "cpython"])
def server(request, tmp_path):
    """A Server of 2 connections and a 256-byte buffer, with routes whose
    answers fail early and late; its port and process."""
    port = _free_port()
    script = tmp_path / "server.py"
    script.write_text(SERVER % (str(FIRMWARE), str(Path(microdot.__file__).parents[1]), port))
    exe = [simtool.micropython_exe()] if request.param == "micropython" else [sys.executable, "-u"]
    proc = subprocess.Popen(exe + [str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            assert _get(port, "/fine")[0] == 200
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "the server did not start"
            time.sleep(0.05)
    yield port, proc
    proc.kill()
    proc.wait()


def _get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # a hang times out
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read(), r
    finally:
        conn.close()


@pytest.mark.parametrize("path", ["/fails-early", "/fails-late"])
def test_running_out_of_memory_while_making_an_answer_answers_503(server, path):
    """Early or late in its body: an answer is made whole before any of it
    is sent, so the client gets a clean 503, never a part of an answer."""
    port, proc = server
    status, body, r = _get(port, path)
    assert (status, r.getheader("Retry-After")) == (503, "1")
    assert body == BUSY.split(b"\r\n\r\n")[1]
    assert _get(port, "/fine")[:2] == (200, b'{"ok": true}')


def test_an_answer_that_fails_before_it_is_sent_is_answered_500_and_logged(server):
    port, proc = server
    status, body, _ = _get(port, "/raises")
    assert status == 500 and b"internal error" in body
    assert _get(port, "/fine")[:2] == (200, b'{"ok": true}')
    proc.kill()
    assert "web: answering a request failed" in proc.communicate()[0]


def test_a_restarted_server_goes_on_with_its_listening_socket(server):
    port, proc = server
    for _ in range(3):
        assert _get(port, "/restart")[0] == 200
        time.sleep(0.3)
        assert _get(port, "/fine")[:2] == (200, b'{"ok": true}')
    proc.kill()
    out = proc.communicate()[0]
    assert out.count("server ended") == 3 and "EADDRINUSE" not in out and "Errno 98" not in out


def _stalled(port, data=b""):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    return s


def test_connections_beyond_the_limit_are_refused_503_quickly_and_stalled_ones_dropped(server):
    port, proc = server
    # Two clients hold the two places: one never finishes its request line,
    # one never sends its body.
    held = [_stalled(port, b"GET /fine HT"), _stalled(port, b"POST /fine HTTP/1.0\r\nContent-Length: 10\r\n\r\n")]
    time.sleep(0.2)
    status, body, r = _get(port, "/fine")
    assert status == 503 and r.getheader("Retry-After") == "1"
    # Each is closed by the server at its deadline, no answer given.
    for s in held:
        assert s.recv(100) == b""
        s.close()
    assert _get(port, "/fine")[:2] == (200, b'{"ok": true}')


def test_malformed_and_oversized_requests_are_answered_400_and_413(server):
    port, proc = server

    def raw(data):
        s = _stalled(port, data)
        try:
            answer = b""
            while True:
                part = s.recv(4096)
                if not part:
                    return answer
                answer += part
        finally:
            s.close()

    assert raw(b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.0 400 ")
    assert raw(b"GET /fine HTTP/1.0\r\nNo colon here\r\n\r\n").startswith(b"HTTP/1.0 400 ")
    assert raw(b"GET /fine HTTP/1.0\r\nX-Long: " + b"a" * 2000 + b"\r\n\r\n").startswith(b"HTTP/1.0 400 ")
    assert raw(b"POST /fine HTTP/1.0\r\nContent-Length: 100000\r\n\r\n").startswith(b"HTTP/1.0 413 ")
    assert _get(port, "/fine")[:2] == (200, b'{"ok": true}')


def test_the_canned_answers_carry_their_exact_length():
    from app.webapi import FAILED

    for answer in (BUSY, FAILED):
        head, body = answer.split(b"\r\n\r\n")
        assert b"Content-Length: %d\r\n" % len(body) in head + b"\r\n"


WRITES = """
import sys
sys.path[:0] = [%r, %r]
import asyncio
from microdot import Response
from app.webapi import Server, _answer


class Writer:
    def __init__(self):
        self.writes = []

    def write(self, data):
        self.writes.append(bytes(data))


server = Server(connections=1, buffer=256)
for size in (10, 100, 150, 200, 1000):
    w = Writer()
    res = Response(*_answer({"Text": "x" * size}.items()))
    server._render(res)
    server._write(res, w)
    print(size, len(w.writes), len(b"".join(w.writes)))
"""


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
def test_an_answer_within_the_buffer_leaves_in_one_write(tmp_path, interpreter):
    script = tmp_path / "writes.py"
    script.write_text(WRITES % (str(FIRMWARE), str(Path(microdot.__file__).parents[1])))
    exe = [simtool.micropython_exe()] if interpreter == "micropython" else [sys.executable]
    out = subprocess.run(exe + [str(script)], capture_output=True, text=True, check=True).stdout
    writes = {int(size): (int(n), int(total)) for size, n, total in (line.split() for line in out.splitlines())}
    head = 86  # status line and headers of these answers: "HTTP/1.0 200 OK", Content-Type, Content-Length
    for size, (n, total) in writes.items():
        assert total == head + size + 12 + (size > 99) + (size > 999), (size, total)  # {"Text": "..."}
        assert n == -(-total // 256), (size, n)  # one write per buffer's worth: one below 256 bytes
    assert writes[100][0] == 1 and writes[1000][0] == 5
