"""A small HTTP client for the WebAPI and the simulator's control API."""

import base64
import http.client
import json
import socket
import time
from urllib.parse import urlsplit


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:200])


# What a client sees of a simulator that is restarting: no connection, or an
# answer cut short (fewer bytes than its Content-Length).
DOWN = (OSError, http.client.HTTPException)

class SimClient:
    def __init__(self, base):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.auth = None

    def request(self, method, path, body=None, raw=None, auth=None, headers=None, source=None):
        """``source``: the client's own address (any of 127.0.0.0/8 is this machine)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30,
                                          source_address=(source, 0) if source else None)
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        auth = auth or self.auth
        if auth:
            hdrs["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode()
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            return Response(r.status, dict(r.getheaders()), r.read().decode())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    # The WebAPI and control API by name.
    def status(self):
        return self.ok(self.get("/webapi/v1/Status"))

    def board(self):
        return self.ok(self.get("/sim/v1/Board"))

    def vehicle(self, **fields):
        return self.ok(self.post("/sim/v1/Vehicle", fields))

    def faults(self, **fields):
        return self.ok(self.post("/sim/v1/Faults", fields))

    def site(self, **fields):
        return self.ok(self.post("/sim/v1/Site", fields))

    def meter(self, n):
        return self.ok(self.get("/webapi/v1/Meter%d" % n))["Meter%d" % n]

    def advance(self, ms):
        return self.ok(self.post("/sim/v1/Time", {"AdvanceMs": ms}))

    def config(self, **fields):
        return self.ok(self.post("/webapi/v1/SystemConfig", fields))

    def ctrl(self, **fields):
        return self.ok(self.post("/webapi/v1/EvseCtrl", fields))

    @staticmethod
    def ok(response):
        assert response.status == 200, response
        return response.json

    def wait_ready(self, timeout, proc=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError("simulator exited with %s" % proc.returncode)
            try:
                if self.get("/webapi/v1/Status").status == 200:
                    return
            except DOWN:
                pass
            time.sleep(0.1)
        raise TimeoutError("simulator did not answer within %s s" % timeout)
