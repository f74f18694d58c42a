"""app.jsonstream: a JSON object written a member at a time, as pieces or
into a file, reads back as the object, and no piece of it is large."""

import json

import io

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


def test_an_object_written_into_a_file_is_the_same_text():
    members = {"DeviceName": "Garage \u00e9\u00e9", "ChargeCurrent": 16, "Meter1": {"ModbusData": [1, 2.5]}}.items()
    text = io.StringIO()
    Object(members).write(text)
    assert json.loads(text.getvalue()) == dict(members)
    assert text.getvalue() == _text(members)
