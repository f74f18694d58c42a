"""The OpenAPI description as a board serves it (issue 18 item 7, beside
tests/test_openapi.py): from the ROM image on the 32-bit port at the heap
budget, where the file is larger than the free heap, so it cannot have been
read whole; under CPython as under MicroPython; HEAD gets the head alone;
and the 503 every operation describes is the answer a charger with no
connection place left gives, as described."""

import json
import socket

import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

import micropython32
from evsectl import paths

DESCRIPTION = paths.firmware_dir() / "app" / "openapi.json"
URL = "/webapi/v1/openapi.json"
BUDGET_32 = "80k"  # tests/test_heap_budget.py's 32-bit budget


def raw_head(client):
    """What the charger sends for a HEAD of the description, every byte."""
    with socket.create_connection((client.host, client.port), timeout=10) as s:
        s.sendall(b"HEAD " + URL.encode() + b" HTTP/1.0\r\n\r\n")
        got = b""
        while True:
            part = s.recv(4096)
            if not part:
                return got
            got += part


def test_a_board_streams_the_description_from_its_rom_image(sim_factory):
    sim = sim_factory(extra=("--heapsize", BUDGET_32, "--romfs", "--micropython", micropython32.exe()))
    c = sim.client
    c.advance(500)
    r = c.get(URL)
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"
    assert r.body.encode() == DESCRIPTION.read_bytes()
    assert int(r.headers["Content-Length"]) == DESCRIPTION.stat().st_size
    free = int(c.ok(c.get("/webapi/v1/SystemInfo"))["HeapInfo"].split("/")[1], 16)
    assert free < DESCRIPTION.stat().st_size  # so it went out in pieces
    head = raw_head(c)
    assert head.startswith(b"HTTP/1.0 200 OK\r\n") and head.endswith(b"\r\n\r\n"), head[-200:]
    assert b"Content-Length: %d\r\n" % DESCRIPTION.stat().st_size in head
    assert c.status()["EvseState"] == 1 and "MemoryError" not in sim.output()


def test_the_firmware_serves_it_under_cpython_too(sim_factory):
    c = sim_factory(interpreter="cpython").client
    r = c.get(URL)
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"
    assert r.body.encode() == DESCRIPTION.read_bytes()
    assert raw_head(c).endswith(b"\r\n\r\n")


def test_with_no_place_left_every_operation_answers_its_described_503(sim_factory):
    doc = json.loads(DESCRIPTION.read_text())
    api = OpenAPI.from_dict(doc)
    c = sim_factory().client
    # Connections that say nothing hold the simulated board's four places
    # (board file web.connections) for their 3 s; each request meanwhile
    # waits 50 ms for a place and is refused.
    idle = [socket.create_connection((c.host, c.port)) for _ in range(4)]
    try:
        answers = [(path, method, c.request(method.upper(), path, raw=b"{}" if method == "post" else None))
                   for path, ops in doc["paths"].items() for method in ops]
    finally:
        for s in idle:
            s.close()
    for path, method, r in answers:
        assert r.status == 503 and r.headers["Retry-After"] == "1", (path, method, r)
        request = MockRequest("http://127.0.0.1", method, path)
        api.validate_response(request, MockResponse(r.body.encode(), status_code=503,
                                                    content_type=r.headers["Content-Type"].split(";")[0]))
    c.advance(500)
    assert c.status()["EvseState"] == 1  # the places came back
