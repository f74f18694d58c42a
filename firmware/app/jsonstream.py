"""JSON objects written a member at a time.

The SystemConfig answer is some 700 bytes of text. Built whole, it needs
that much free heap in one piece, twice over (the text and its UTF-8
bytes), beside the dict it was made from; on a heap of 96 KiB, most of it
held by the firmware, such pieces are often not to be found even when the
bytes are. Written member by member, an object needs a few dozen bytes at a
time, and small free blocks serve it as well as a fresh heap would.

The web server (app.webapi.Server) has json.dump write an answer's
members straight into a buffer it made once (``write``), which takes no
heap at all and measures the answer's length; ``pieces`` gives the text in
small strings, for a file being saved (app.config).
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


def write(members, stream):
    """Write the JSON object holding ``members`` into ``stream`` (a file,
    such as an io.BytesIO made once and reused), a member at a time:
    json.dump writes into the stream as it goes, so that no text of a
    member, or of the whole, is made in the heap."""
    stream.write("{")
    sep = ""
    for key, value in members:
        stream.write(sep)
        json.dump(key, stream)
        stream.write(": ")
        json.dump(value, stream)
        sep = ", "
    stream.write("}")


class Object:
    """An answer's body: the JSON object of ``members``, which the web
    server writes into its buffer (``write``) when it sends the answer.
    ``members`` is gone through once, then: a dict's items, or an object
    whose ``__iter__`` reads one snapshot."""

    def __init__(self, members):
        self.members = members

    def write(self, stream):
        write(self.members, stream)
