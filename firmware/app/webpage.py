"""The charger's own web page, served at ``/`` (docs/webpage.md).

The page is one file, stored gzipped beside the app (``web/index.html.gz``
in the slot or the ROM image, made by ``evsectl build``) and sent as it is,
with ``Content-Encoding: gzip``: the charger never decompresses it, and
streams it in FileBody's small pieces, so a browser costs the heap one piece
(512 bytes), never the page.

Its ETag is the gzip trailer: the CRC-32 and length of the page as written,
a hash of its content that the compressor has already computed, read once
(8 bytes) and kept with the answer's headers, which every answer shares. With ``Cache-Control: no-cache`` a browser asks again
on every load and gets ``304 Not Modified`` (no body) until the page
changes, as after an update.

Loaded by the first request for the page, not at boot.
"""

from microdot import Response

from app.webapi import FileBody

PAGE = "/web/index.html.gz"  # under the slot's directory (the ROM image's root)

# Where the page may load anything from: itself and the charger, nothing
# else (no CDN, no font, no tracker, even if a bug or a setting tried), and no
# other site may frame it (clickjacking). Short: the head of the answer is
# made in the heap, three browsers at once on a tight one.
_POLICY = "default-src 'self' 'unsafe-inline'; img-src data:; frame-ancestors 'none'"

# Made by the first request and shared by every answer after it: the body
# (the file's path and size) and the headers, which are the same each time.
# Three browsers fetching the page at once on a 78k heap (32-bit) left no
# room for a copy of six headers per answer, as microdot's Response makes.
_page = None  # (FileBody, headers of a 200, headers of a 304)


def _etag(path, size):
    """The ETag: the CRC-32 and length of the page, from the gzip trailer."""
    with open(path, "rb") as f:
        f.seek(size - 8)
        trailer = f.read(8)  # little-endian
    return '"%02x%02x%02x%02x-%d"' % (
        trailer[3], trailer[2], trailer[1], trailer[0],
        trailer[4] | trailer[5] << 8 | trailer[6] << 16 | trailer[7] << 24,
    )


def _load(path):
    global _page
    body = FileBody(path)
    tag = _etag(path, body.size)
    # Plain dicts, spelt as microdot and the server look the names up: a
    # NoCaseDict keeps a lower-case copy of every name besides.
    same = {
        "ETag": tag,
        "Cache-Control": "no-cache",
        "Content-Type": "text/html; charset=UTF-8",
        "Content-Encoding": "gzip",
        "Content-Security-Policy": _POLICY,
        "Content-Length": str(body.size),
    }
    unchanged = {"ETag": tag, "Cache-Control": "no-cache", "Content-Type": "text/html; charset=UTF-8",
                 "Content-Length": "0"}
    _page = (body, same, unchanged)


def answer(req, root):
    """The answer to ``GET /`` (or HEAD) for the app whose directory is ``root``."""
    if _page is None:
        try:
            _load(root + PAGE)
        except OSError:
            return {"Errors": {"path": "this build has no web page (evsectl build makes it)"}}, 404
    body, same, unchanged = _page
    if same["ETag"] in req.headers.get("If-None-Match", ""):
        res = Response(b"", 304, reason="Not Modified")
        res.headers = unchanged
    else:
        res = Response(body)
        res.headers = same
    return res
