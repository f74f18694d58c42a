"""The charger's web page as the device stores it: ``web/index.html.gz``.

The source is one self-contained file, ``firmware/web/index.html`` (HTML, CSS
and JavaScript, no framework; docs/webpage.md). ``evsectl build`` and the
device images of ``evsectl sim``/``deploy`` (evsectl.device) store it
minified and gzipped, and the firmware streams those bytes as they are, with
``Content-Encoding: gzip`` (app.webpage).

Why no minifier package: gzip does most of the work (the page is some 4x
smaller gzipped), and a minifier that parses JavaScript is a large
dependency whose output changes with its version. What is left to gain
safely is whitespace and comments, which this module strips line by line
under rules the source is written to keep (stated at its top): each line
loses its indentation, blank lines and lines that begin with ``//`` go.
Lines are joined with newlines, so JavaScript's automatic semicolons still
fall where they did.

Deterministic: the same source gives the same bytes (gzip header mtime 0,
no file name, level 9), for a given zlib; the manifest's SHA-256 covers
them.

    python -m evsectl.page     # prints the sizes, raw, minified and gzipped
"""

import gzip
import json
import sys

from evsectl import paths

SOURCE = "web/index.html"  # under the firmware directory
DEVICE_PATH = "web/index.html.gz"  # in an app slot, a bundle and the ROM image
MAX_GZIPPED = 40 * 1024  # issue 17: at most 40 KB gzipped
_SCHEMA_MARK = "/*SCHEMA*/"


def settings_schema():
    """The firmware's settings as the page needs them: {key: [kind, low,
    high]} from app.config.SCHEMA (the factory default is left out: the
    page shows what the charger says)."""
    sys.path.insert(0, str(paths.firmware_dir()))
    try:
        from app.config import SCHEMA
    finally:
        sys.path.pop(0)
    return {key: [spec[0], list(spec[1]) if isinstance(spec[1], tuple) else spec[1], spec[2]]
            for key, spec in SCHEMA.items()}


def minify(text):
    """Drop indentation, blank lines and whole-line ``//`` and HTML comments
    (the source's rules, see its top)."""
    out = []
    in_comment = False
    for line in text.splitlines():
        line = line.strip()
        if in_comment:
            in_comment = "-->" not in line
            continue
        if line.startswith("<!--") and not line.startswith("<!doctype"):
            in_comment = "-->" not in line
            continue
        if not line or line.startswith("//"):
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def source_text():
    """The page's source with the settings filled in, not yet minified."""
    text = (paths.firmware_dir() / SOURCE).read_text(encoding="utf-8")
    if _SCHEMA_MARK not in text:
        raise ValueError("%s has no %s to fill in" % (SOURCE, _SCHEMA_MARK))
    return text.replace(_SCHEMA_MARK, json.dumps(settings_schema(), separators=(",", ":")))


def gzipped():
    """The bytes the device stores and sends: minified, gzipped, deterministic."""
    data = gzip.compress(minify(source_text()).encode("utf-8"), compresslevel=9, mtime=0)
    if len(data) > MAX_GZIPPED:
        raise ValueError("the web page is %d bytes gzipped, over its budget of %d" % (len(data), MAX_GZIPPED))
    return data


def write(slot_dir):
    """Store the page in an app slot or bundle directory; returns its path."""
    dest = slot_dir / DEVICE_PATH
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(gzipped())
    return dest


def main():
    raw = source_text()
    small = minify(raw)
    print("web page: %d bytes source, %d minified, %d gzipped (budget %d)"
          % (len(raw.encode()), len(small.encode()), len(gzipped()), MAX_GZIPPED))


if __name__ == "__main__":
    main()
