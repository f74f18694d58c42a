"""``evsectl console``: the board's MicroPython REPL in this terminal.

    evsectl console --port /dev/ttyUSB0

It becomes ``mpremote connect PORT repl``; Ctrl-] leaves it. At the REPL,
Ctrl-C stops the running app and Ctrl-D restarts it (a soft reset), as on
any MicroPython board.
"""

import importlib.util
import os
import sys

from evsectl.errors import UserError


def command(port):
    """The mpremote command line for ``port``, run by this Python."""
    return [sys.executable, "-m", "mpremote", "connect", port, "repl"]


def add_parser(sub):
    c = sub.add_parser("console", help="the board's MicroPython REPL (mpremote)")
    c.add_argument("--port", required=True, help="serial port of the board, e.g. /dev/ttyUSB0")
    c.set_defaults(func=_run)


def _run(args):
    if importlib.util.find_spec("mpremote") is None:
        raise UserError("mpremote is not installed (pip install mpremote)")
    if args.port.startswith("/dev/") and not os.path.exists(args.port):
        raise UserError("no serial port %s (is the board plugged in?)" % args.port)
    cmd = command(args.port)
    os.execv(cmd[0], cmd)
