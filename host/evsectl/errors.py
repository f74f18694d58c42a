"""User errors: what the owner can fix, said in one line.

Any command raises ``UserError("what and what to do")``; ``evsectl.cli.main``
alone prints it as ``evsectl <command>: <message>`` and exits with
``EXIT_CODE``, the code argparse uses for a bad command line too. No user
error shows a traceback.
"""

import argparse

EXIT_CODE = 2


class UserError(Exception):
    """Something the user can fix; the message says what, and what to do."""


def tcp_port(text):
    """argparse type: a TCP port, 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError("%r is not a TCP port (1 to 65535)" % text)
    return port
