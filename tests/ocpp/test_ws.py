"""The OCPP WebSocket client (firmware/ocpp/ws.py) against a real server.

The server is the `websockets` package (tests/ocpp/ws_server.py), in a
subprocess, plain and with TLS (a CA and a server certificate for
"localhost" made by evsectl.wsheap.make_certs). Every case in tests/ocpp/ws_cases.py runs in its own
client process under CPython, the 64-bit MicroPython unix port (which has
TLS) and the 32-bit one (no TLS: there a wss:// connection must fail with a
clear error), so the same client code is proven on each.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import micropython32
from evsectl.wsheap import make_certs

HERE = Path(__file__).resolve().parent
CASES = HERE / "ws_cases.py"
SERVER = HERE / "ws_server.py"

PLAIN = ["echo_sizes", "subprotocol_refused", "fragments", "server_ping_answered", "our_pings", "dead_link",
         "server_close", "client_close", "oversize", "binary_refused", "protocol_errors", "close_while_silent", "send_stall",
         "no_nagle_stall", "stall_mid_frame", "connect_timeout",
         "auth_accepted", "auth_refused", "for_profile_sync", "parse_url_sync", "backoff_sync", "sha1_sync",
         "basic_auth_sync"]
TLS = ["tls_ok", "tls_wrong_ca", "tls_wrong_host"]


def micropython64():
    path = shutil.which("micropython") or str(Path(sys.executable).parent / "micropython")
    if not os.path.exists(path):
        pytest.fail("the MicroPython unix port (micropython) is not installed in the venv")
    return path


INTERPRETERS = {
    "cpython": lambda: sys.executable,
    "micropython": micropython64,
    "micropython32": micropython32.exe,
}


class Server:
    """tests/ocpp/ws_server.py in a subprocess; ``port`` once it listens."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, str(SERVER), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            pytest.fail("ws_server.py did not start: %s%s" % (line, self.proc.stdout.read()))
        self.port = int(line.split()[1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    certs = make_certs(tmp_path_factory.mktemp("certs"))
    plain = Server()
    try:
        tls = Server("--tls", str(certs["cert"]), str(certs["key"]))
    except BaseException:
        plain.stop()
        raise
    yield ["ws=ws://127.0.0.1:%d" % plain.port, "wss=wss://localhost:%d" % tls.port,
           "ca=%s" % certs["ca"], "wrongca=%s" % certs["wrongca"]]
    plain.stop()
    tls.stop()


def run_case(interpreter, case, args):
    exe = INTERPRETERS[interpreter]()
    cmd = [exe, str(CASES), case, *args]
    if interpreter != "cpython":
        cmd[1:1] = ["-X", "heapsize=2m"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and ("PASS " + case) in proc.stdout, "%s %s:\n%s" % (interpreter, case, out)
    print(out)
    return out


@pytest.mark.parametrize("case", PLAIN)
@pytest.mark.parametrize("interpreter", sorted(INTERPRETERS))
def test_ws_case(servers, interpreter, case):
    run_case(interpreter, case, servers)


@pytest.mark.parametrize("case", TLS)
@pytest.mark.parametrize("interpreter", ["cpython", "micropython"])
def test_wss_case(servers, interpreter, case):
    run_case(interpreter, case, servers)


def test_wss_on_a_build_without_tls_is_a_clear_error(servers):
    run_case("micropython32", "tls_unavailable", servers)
