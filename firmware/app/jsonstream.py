"""JSON objects written a member at a time, their size known beforehand.

The SystemConfig answer is some 700 bytes of text. Built whole, it needs
that much free heap in one piece, twice over (the text and its UTF-8
bytes), beside the dict it was made from; on a heap of 96 KiB, most of it
held by the firmware, such pieces are often not to be found even when the
bytes are. Written member by member, an object needs a few dozen bytes at a
time, and small free blocks serve it as well as a fresh heap would. Its
size is counted the same way, piece by piece, so that an answer still
carries a Content-Length and a client can tell a whole one from one cut
short.
"""

import json


def pieces(members):
    """The text of the JSON object holding ``members`` ((key, value) pairs,
    any iterable), as a generator of small strings."""
    sep = "{"
    for key, value in members:
        yield "%s%s: %s" % (sep, json.dumps(key), json.dumps(value))
        sep = ", "
    yield "{}" if sep == "{" else "}"


def size(members):
    """The length in bytes (UTF-8) of the text ``pieces(members)`` gives."""
    n = 0
    for piece in pieces(members):
        n += len(piece.encode())
    return n
