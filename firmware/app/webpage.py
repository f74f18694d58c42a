"""The charger's own web page, served at ``/`` (docs/webpage.md).

The page is one file, stored gzipped beside the app (``web/index.html.gz``
in the slot or the ROM image, made by ``evsectl build``) and sent as it is,
with ``Content-Encoding: gzip``: the charger never decompresses it, and
streams it in FileBody's small pieces, so a browser costs the heap one piece
(512 bytes), never the page.

Its ETag is the gzip trailer: the CRC-32 and length of the page as written,
a hash of its content that the compressor has already computed, read once
(8 bytes) and kept. With ``Cache-Control: no-cache`` a browser asks again
on every load and gets ``304 Not Modified`` (no body) until the page
changes, as after an update.

Loaded by the first request for the page, not at boot.
"""

from microdot import Response

from app.webapi import FileBody

PAGE = "/web/index.html.gz"  # under the slot's directory (the ROM image's root)

# Where the page may load anything from: itself and the charger, nothing
# else (no CDN, no font, no tracker, even if a bug or a setting tried), and no
# other site may frame it (clickjacking).
_POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

_tag = None  # the ETag, once read


def _etag(path, size):
    global _tag
    if _tag is None:
        with open(path, "rb") as f:
            f.seek(size - 8)
            trailer = f.read(8)  # CRC-32 and length of the page, little-endian
        _tag = '"%02x%02x%02x%02x-%d"' % (
            trailer[3], trailer[2], trailer[1], trailer[0],
            trailer[4] | trailer[5] << 8 | trailer[6] << 16 | trailer[7] << 24,
        )
    return _tag


def answer(req, root):
    """The answer to ``GET /`` (or HEAD) for the app whose directory is ``root``."""
    path = root + PAGE
    try:
        body = FileBody(path)
    except OSError:
        return {"Errors": {"path": "this build has no web page (evsectl build makes it)"}}, 404
    tag = _etag(path, body.size)
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if tag in req.headers.get("If-None-Match", ""):
        return Response(b"", 304, headers, reason="Not Modified")
    headers["Content-Type"] = "text/html; charset=UTF-8"
    headers["Content-Encoding"] = "gzip"
    headers["Content-Security-Policy"] = _POLICY
    return Response(body, 200, headers)
