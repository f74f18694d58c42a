"""Log lines to the console, with the uptime, kept short for a small heap.

Warnings and errors also go to a file on flash once the firmware has
called ``keep`` (app.runtime.main does; tests and tools that import the
firmware's modules write nothing): ``FILE``, moved to ``FILE + ".1"`` when
it outgrows ``FILE_BYTES``, so the two hold the last 4 to 8 KB of them,
across restarts. OCPP's GetDiagnostics uploads them. A file, not a buffer
in RAM: the heap has no room to spare (tests/test_heap_everything_on.py),
and info lines, which a busy charger logs often, stay off the flash.
"""

import sys

try:
    from time import ticks_diff, ticks_ms
except ImportError:  # CPython
    from time import monotonic

    def ticks_ms():
        return int(monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b


# Milliseconds since the firmware started, like SystemInfo's TimeStamp: on
# the unix port ticks_ms counts from the host's boot instead.
_START = ticks_ms()


FILE = "app.log"
FILE_BYTES = 4096
_keeping = False


def keep():
    """From now on, warnings and errors go to ``FILE`` too."""
    global _keeping
    _keeping = True


def _line(level, msg):
    line = "[%9d] %s %s" % (ticks_diff(ticks_ms(), _START), level, msg)
    print(line)
    if _keeping and level != "I":
        _append(line)


def _append(line):
    import os

    try:
        with open(FILE, "a") as f:
            f.write(line)
            f.write("\n")
            full = f.tell() > FILE_BYTES
        if full:
            os.rename(FILE, FILE + ".1")  # replaces the older one (LittleFS and POSIX)
    except OSError:
        pass  # a full or failing flash must not stop what logs


def info(msg):
    _line("I", msg)


def warn(msg):
    _line("W", msg)


def error(msg, exc=None):
    _line("E", msg)
    if exc is not None:
        try:
            sys.print_exception(exc)  # MicroPython
        except AttributeError:
            import traceback

            traceback.print_exception(exc)
