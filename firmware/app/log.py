"""Log lines to the console, with the uptime, kept short for a small heap.

The last ``KEEP`` lines are also kept in RAM (``recent``), with the
milliseconds at which each was logged, for OCPP's GetDiagnostics (the
lines are the strings printed anyway: keeping them costs their references
and the lines they keep alive, some 2 KB at most, nothing per line logged
once the list is full).
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


KEEP = 24
_recent = []  # [(ticks_ms, line)], oldest first
_next = 0  # where the next line goes once the list is full


def _line(level, msg):
    global _next
    now = ticks_ms()
    line = "[%9d] %s %s" % (ticks_diff(now, _START), level, msg)
    print(line)
    if len(_recent) < KEEP:
        _recent.append((now, line))
    else:
        _recent[_next] = (now, line)
        _next = (_next + 1) % KEEP


def recent():
    """The lines kept, oldest first, each as (milliseconds ago, line)."""
    now = ticks_ms()
    return [(ticks_diff(now, t), line) for t, line in _recent[_next:] + _recent[:_next]]


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
