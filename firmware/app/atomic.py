"""Files that must survive: written by atomic replace, read without ever
failing.

The new content goes to ``path + ".tmp"``, is flushed to the medium, and is
renamed over ``path``. Rename is atomic on LittleFS (ESP32) and POSIX, so a
power cut leaves the old file or the new one, never a torn one.
"""

import json
import os


def _sync(f):
    f.flush()
    try:
        os.fsync(f.fileno())  # CPython
    except (AttributeError, OSError):
        pass


def write_atomic(path, content):
    """Replace ``path`` by ``content``: a str, or str pieces (an iterable)
    written one after the other."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for piece in (content,) if isinstance(content, str) else content:
            f.write(piece)
        _sync(f)
    os.rename(tmp, path)
    try:
        os.sync()  # MicroPython ports with a block device cache
    except (AttributeError, OSError):
        pass


def read_json(path):
    """The JSON object in ``path``; {} when it is missing or unreadable."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
