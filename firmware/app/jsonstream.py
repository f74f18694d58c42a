"""JSON objects written a member at a time.

The SystemConfig answer is some 700 bytes of text. Built whole, it needs
that much free heap in one piece, twice over (the text and its UTF-8
bytes), beside the dict it was made from; on a heap of 96 KiB, most of it
held by the firmware, such pieces are often not to be found even when the
bytes are. Written member by member, an object needs a few dozen bytes at a
time, and small free blocks serve it as well as a fresh heap would.

The web server (app.webapi.Server) copies the pieces into its write buffer
and learns the answer's length as it goes: an answer that fits the buffer
is serialised once, and only the part of a longer one that overflows the
buffer is gone through a second time, to be sent after its
Content-Length.
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


class Object:
    """The pieces of the JSON object of ``members``, as often as they are
    iterated: ``members`` must give the same pairs each time (a dict's
    items, a tuple, or an object whose ``__iter__`` reads one snapshot)."""

    def __init__(self, members):
        self.members = members

    def __iter__(self):
        return pieces(self.members)
