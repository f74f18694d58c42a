"""app.jsonstream: a JSON object written a member at a time reads back as
the object, no piece of it is large, and an Object gives its pieces again
each time it is gone through."""

import json

from app.jsonstream import Object, pieces


def _text(members):
    return "".join(pieces(members))


def test_an_object_reads_back_as_its_members():
    members = [
        ("TimeStamp", 12),
        ("DeviceName", 'EVSE "garage"\\ \n\u00e9'),
        ("Charge3Phase", True),
        ("Meter1Ip", ""),
        ("UpdateServer", None),
        ("TempC", 21.5),
        ("HouseholdA", [1, 2.5, 0]),
        ("Meter1", {"ModbusData": {}}),
    ]
    assert json.loads(_text(members)) == dict(members)


def test_no_members_make_an_empty_object():
    assert json.loads(_text([])) == {}
    assert json.loads(_text(iter(()))) == {}


def test_each_piece_holds_one_member():
    members = [("Key%d" % i, "v" * 20) for i in range(40)]
    chunks = list(pieces(members))
    assert len(chunks) == 41  # the members, then the closing brace
    assert max(len(c) for c in chunks) < 40


def test_an_object_gives_the_same_pieces_each_time():
    members = {"DeviceName": "Garage \u00e9\u00e9", "ChargeCurrent": 16}.items()
    obj = Object(members)
    assert list(obj) == list(obj) == list(pieces(members))
