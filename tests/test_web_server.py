"""The WebAPI's server (app.webapi.Server) never leaves a client waiting:
whatever fails while an answer is being written, the connection is closed
and the server goes on answering. Under both interpreters: MicroPython's
asyncio, unlike CPython's, leaves the socket of a failed connection open
until the collector finalises it."""

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

SERVER = """
import sys
sys.path[:0] = [%r, %r]
import asyncio
from app.webapi import Server

app = Server()


@app.route("/answer")
async def answer(req):
    def body():
        yield '{"TimeStamp": 1'
        raise MemoryError("injected")

    return body(), 200, {"Content-Type": "application/json"}


@app.route("/fine")
async def fine(req):
    return {"ok": True}


asyncio.run(app.start_server(host="127.0.0.1", port=%d))
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["micropython", "cpython"])
def server(request, tmp_path):
    """A Server with a route whose answer fails halfway, and one that does not; its port."""
    port = _free_port()
    script = tmp_path / "server.py"
    script.write_text(SERVER % (str(FIRMWARE), str(Path(microdot.__file__).parents[1]), port))
    exe = [simtool.micropython_exe()] if request.param == "micropython" else [sys.executable, "-u"]
    proc = subprocess.Popen(exe + [str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "the server did not start"
            time.sleep(0.05)
    yield port, proc
    proc.kill()
    proc.wait()


def _get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)  # a hang times out
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_running_out_of_memory_while_writing_an_answer_closes_the_connection(server):
    port, proc = server
    # The headers were out when the body failed: the answer ends there, cut short.
    assert _get(port, "/answer") == (200, b'{"TimeStamp": 1')
    assert _get(port, "/fine") == (200, b'{"ok": true}')
    proc.kill()
    assert "web: answering a request failed" in proc.communicate()[0]
