"""Log lines to the console, with the uptime, kept short for a small heap."""

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


def _line(level, msg):
    print("[%9d] %s %s" % (ticks_diff(ticks_ms(), _START), level, msg))


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
