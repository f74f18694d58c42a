"""GetDiagnostics, end to end: the real central system (the ``ocpp``
package) asks the real firmware (``evsectl sim``, MicroPython unix port)
for its diagnostics; the firmware uploads them to a real FTP server
(pyftpdlib) or a loopback HTTP server taking PUT, and reports each step in
DiagnosticsStatusNotification. A server that refuses the file (FTP 550,
HTTP 403) gets it retried as asked, then UploadFailed."""

import http.server
import threading
import time

import pytest
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

from test_core_e2e import central  # noqa: F401 (the fixture: a central system process)
from test_core_e2e import ocpp_charger


@pytest.fixture
def ftp_server(tmp_path):
    """A real FTP server on a free loopback port: user "evse" (password
    "s3cret") may write into its home; "viewer" may only read (STOR: 550)."""
    home = tmp_path / "ftp"
    home.mkdir()
    auth = DummyAuthorizer()
    auth.add_user("evse", "s3cret", str(home), perm="elradfmw")
    auth.add_user("viewer", "look", str(home), perm="elr")
    handler = type("Handler", (FTPHandler,), {"authorizer": auth, "passive_ports": None})
    server = FTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.1}, daemon=True)
    thread.start()
    yield server.address[1], home
    server.close_all()


class PutHandler(http.server.BaseHTTPRequestHandler):
    """Stores a PUT under /upload/ in ``store``; anything else: 403."""

    store = None

    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if not self.path.startswith("/upload/"):
            self.send_error(403)
            return
        self.store[self.path] = (body, self.headers.get("Authorization"))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    store = {}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("H", (PutHandler,), {"store": store}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], store
    server.shutdown()
    server.server_close()


def statuses(cs):
    cs.drain()
    return [e["payload"]["status"] for e in cs.seen if e.get("got") == "DiagnosticsStatusNotification"]


def get_diagnostics(cs, location, **extra):
    answer = cs.call("GetDiagnostics", dict(location=location, **extra))
    assert answer["result"] is not None, answer
    return answer["result"].get("file_name")


def check_content(text):
    assert text.startswith("# open-evse diagnostics\nbox=CP1\nversion=0.1.0\n")
    # The warnings logged (app.log), the refused request's among them.
    assert "W ocpp: GetDiagnostics: cannot upload to 'https://127.0.0.1/nope'\n" in text
    assert "\nOcppBoxId=\"CP1\"\n" in text and "\nOcppAuthKeySet=true\n" in text
    assert "topsecretpassword" not in text  # the OCPP password itself never
    assert "\n# ocpp journal\nwaiting=" in text and "\nHeartbeatInterval=" in text


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
def test_diagnostics_over_ftp(sim_factory, central, ftp_server, interpreter):
    port, home = ftp_server
    cs = central()
    ocpp_charger(sim_factory, cs, interpreter=interpreter, OcppAuthKey="topsecretpassword")
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    assert get_diagnostics(cs, "https://127.0.0.1/nope") is None  # no file: nothing is sent
    name = get_diagnostics(cs, "ftp://evse:s3cret@127.0.0.1:%d/" % port)
    assert name.startswith("diag-CP1-") and name.endswith("Z.txt")
    cs.got("DiagnosticsStatusNotification", where=lambda p: p["status"] == "Uploaded")
    assert statuses(cs) == ["Uploading", "Uploaded"]
    check_content((home / name).read_text())
    after = cs.call("TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification"})["after"]
    assert cs.got("DiagnosticsStatusNotification")["n"] > after and statuses(cs)[-1] == "Idle"


def test_diagnostics_over_http_put(sim_factory, central, http_server):
    port, store = http_server
    cs = central()
    ocpp_charger(sim_factory, cs, OcppAuthKey="topsecretpassword")
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    assert get_diagnostics(cs, "https://127.0.0.1/nope") is None
    name = get_diagnostics(cs, "http://ops:pw@127.0.0.1:%d/upload" % port)
    cs.got("DiagnosticsStatusNotification", where=lambda p: p["status"] == "Uploaded")
    assert statuses(cs) == ["Uploading", "Uploaded"]
    body, auth = store["/upload/" + name]
    assert auth == "Basic b3BzOnB3"  # ops:pw
    check_content(body.decode())
    name = get_diagnostics(cs, "http://127.0.0.1:%d/upload/" % port)  # no user: no Authorization
    cs.got("DiagnosticsStatusNotification", where=lambda p: p["status"] == "Uploaded")
    assert store["/upload/" + name][1] is None


@pytest.mark.parametrize("refusing", ["ftp", "http"])
def test_a_server_that_refuses_the_upload_gets_upload_failed(sim_factory, central, ftp_server, http_server, refusing):
    if refusing == "ftp":
        location = "ftp://viewer:look@127.0.0.1:%d/" % ftp_server[0]  # 550 to STOR
        said = "FTP STOR: 550"
    else:
        location = "http://127.0.0.1:%d/elsewhere" % http_server[0]
        said = "HTTP PUT /elsewhere/diag-CP1-"
    cs = central()
    s = ocpp_charger(sim_factory, cs, virtual_time=True)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    get_diagnostics(cs, location, retries=2, retryInterval=20)
    cs.got("DiagnosticsStatusNotification", where=lambda p: p["status"] == "Uploading")
    deadline = time.monotonic() + 20
    while "diagnostics upload attempt 1 of 2" not in s.output():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    while said not in s.output():  # the simulator's output may come a moment later
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.5)
    assert statuses(cs) == ["Uploading"]  # the retry waits for its interval, on the charger's clock
    s.client.advance(21000)
    cs.got("DiagnosticsStatusNotification", where=lambda p: p["status"] == "UploadFailed")
    assert statuses(cs) == ["Uploading", "Uploading", "UploadFailed"]
    assert list(ftp_server[1].iterdir()) == [] and http_server[1] == {}
    assert not (s.device_dir / "diag.txt").exists()
