"""The charger's web page (issue 17, docs/webpage.md): how it is built and
how the firmware serves it. What it does in a browser is
tests/test_webpage_browser.py; its heap, tests/test_webpage_heap.py.

Served by the real firmware (``evsectl sim``) under the MicroPython unix
port, from files and from the ROM image, and under CPython."""

import gzip
import hashlib
import http.client
import json
import re
import zlib

import pytest

from evsectl import build, page
from evsectl import paths


def test_the_page_is_built_deterministically_within_its_budget():
    one, two = page.gzipped(), page.gzipped()
    assert one == two
    assert len(one) <= page.MAX_GZIPPED == 40 * 1024
    assert one[4:8] == b"\0\0\0\0"  # gzip header mtime 0
    assert one[3] == 0  # no flags: no file name, no comment
    html = gzip.decompress(one).decode()
    assert html == page.minify(page.source_text())
    assert html.startswith("<!doctype html>")
    print("web page: %d bytes gzipped, %d bytes as sent decompressed" % (len(one), len(html)))


def test_the_page_carries_every_setting_the_firmware_has():
    html = gzip.decompress(page.gzipped()).decode()
    schema = json.loads(re.search(r"const SCHEMA = (\{.*?\});", html).group(1))
    from app.config import SCHEMA

    assert set(schema) == set(SCHEMA)
    assert schema["MeterFraming"] == ["enum", ["8N1", "8E1", "8N2"], 0]
    assert schema["ChargeCurrent"] == ["int", 6, 80]


def test_the_page_asks_nothing_of_any_other_host():
    html = gzip.decompress(page.gzipped()).decode()
    # No absolute URL anywhere: every request is relative, to the charger.
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I), re.findall(r"\S*//\S+", html)[:5]
    assert "src=" not in html and "@import" not in html and "url(" not in html
    assert re.findall(r"<link[^>]*>", html) == ['<link rel="icon" href="data:,">']  # no favicon request


def test_minify_keeps_code_and_drops_only_whitespace_and_comment_lines():
    source = "<!--\nnote\n-->\n<p>\n    a  b\n\n  // gone\n  x = 1 // kept: not at the line's start\n</p>\n"
    assert page.minify(source) == "<p>\na  b\nx = 1 // kept: not at the line's start\n</p>\n"


def test_a_source_without_its_settings_mark_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "index.html").write_text("<!doctype html>")
    monkeypatch.setattr(paths, "firmware_dir", lambda: tmp_path)
    with pytest.raises(ValueError, match="SCHEMA"):
        page.source_text()


def test_the_bundle_and_its_rom_image_hold_the_page(tmp_path):
    bundle = build.build("sim", tmp_path)
    data = (bundle / page.DEVICE_PATH).read_bytes()
    assert data == page.gzipped()
    entry = [f for f in build.load_manifest(bundle)["files"] if f["path"] == page.DEVICE_PATH]
    assert entry == [{"path": page.DEVICE_PATH, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}]
    assert data in (bundle / build.ROM_IMAGE).read_bytes()  # stored whole in the image


def _etag_of(data):
    """What the firmware derives the ETag from: the gzip trailer (CRC-32 and
    length of the page)."""
    html = gzip.decompress(data)
    return '"%08x-%d"' % (zlib.crc32(html), len(html))


def fetch(client, method="GET", headers=None):
    """(status, headers with lower-case names, body bytes): SimClient
    decodes bodies as text, and the page is gzip."""
    conn = http.client.HTTPConnection(client.host, client.port, timeout=30)
    try:
        conn.request(method, "/", headers=headers or {})
        res = conn.getresponse()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
    finally:
        conn.close()


@pytest.mark.parametrize("kind", ["micropython", "micropython-rom", "cpython"])
def test_the_charger_serves_the_page_gzipped_with_etag_and_caching(sim_factory, kind):
    extra = ("--romfs",) if kind == "micropython-rom" else ()
    sim = sim_factory(interpreter="cpython" if kind == "cpython" else "micropython", extra=extra)
    c = sim.client
    expected = page.gzipped()
    status, headers, body = fetch(c, headers={"Accept-Encoding": "gzip"})
    assert status == 200, body[:200]
    assert body == expected
    assert headers["content-encoding"] == "gzip"
    assert headers["content-type"].startswith("text/html")
    assert headers["content-length"] == str(len(expected))
    assert headers["cache-control"] == "no-cache"
    assert headers["etag"] == _etag_of(expected)
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]

    status, again, body = fetch(c, headers={"If-None-Match": headers["etag"]})
    assert (status, body, again["etag"]) == (304, b"", headers["etag"])
    assert fetch(c, headers={"If-None-Match": '"00000000-1"'})[0] == 200
    status, head, body = fetch(c, "HEAD")
    assert (status, body, head["content-length"]) == (200, b"", str(len(expected)))
    assert c.post("/", {}).status == 405


# -- Cross-site request forgery (docs/webpage.md, "Security") ------------------


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
def test_a_change_sent_from_another_site_is_refused_and_changes_nothing(sim_factory, interpreter):
    c = sim_factory(interpreter=interpreter).client
    here = "127.0.0.1:%d" % c.port
    before = c.get("/webapi/v1/SystemConfig").json
    foreign = [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:%d" % (c.port + 1)},  # another server on the same machine
        {"Origin": "null"},  # a sandboxed frame, a file
        {"Referer": "http://evil.example/page.html"},  # no Origin, but a page of another site
        {"Origin": "http://evil.example", "Referer": "http://%s/" % here},
    ]
    for headers in foreign:
        r = c.post("/webapi/v1/SystemConfig", {"ChargeCurrent": 7}, headers=headers)
        assert r.status == 403 and "another site" in r.json["Errors"]["Origin"], (headers, r)
        r = c.post("/webapi/v1/SystemInfo", {"SCode": "FactoryDefault"}, headers=headers)
        assert r.status == 403, r
    assert c.get("/webapi/v1/SystemConfig").json["ChargeCurrent"] == before["ChargeCurrent"] == 16
    # The charger's own page, and clients that are no web page, may.
    for headers in ({"Origin": "http://" + here}, {"Referer": "http://%s/#settings" % here}, {}):
        assert c.post("/webapi/v1/SystemConfig", {"ChargeCurrent": 8}, headers=headers).status == 200
    assert c.get("/webapi/v1/Status", headers={"Origin": "http://evil.example"}).status == 200  # reads stay open


def test_a_cross_site_change_is_refused_even_with_the_password_and_costs_no_guess(sim_factory):
    c = sim_factory().client
    assert c.post("/webapi/v1/SystemConfig", {"AdminPassword": "secret1"}).status == 200
    c.auth = ("admin", "secret1")
    evil = {"Origin": "http://evil.example"}
    for _ in range(8):  # more than the 5 wrong guesses that would slow the next POST
        assert c.post("/webapi/v1/EvseCtrl", {"ChargeStartToggle": True}, headers=evil, auth=("admin", "wrong")).status == 403
    r = c.post("/webapi/v1/SystemConfig", {"ChargeCurrent": 9}, headers=evil)
    assert r.status == 403
    r = c.post("/webapi/v1/SystemConfig", {"ChargeCurrent": 9}, headers={"Origin": "http://127.0.0.1:%d" % c.port})
    assert r.status == 200 and r.json["ChargeCurrent"] == 9
