"""The Local Authorization List (firmware/ocpp/locallist.py), under CPython
and the MicroPython unix ports (test_ocpp_micropython.py runs this module
there too): Full and Differential updates, versions, the bounds, bad
entries that change nothing, look-ups, expiry, and a restart."""

import json

from flashdir import fresh
from ocpp.locallist import LocalList

NOW = 1767225600  # 2026-01-01T00:00:00Z


def _list(max_length=200):
    return LocalList(fresh() + "/ocpp.list", max_length)


def _entry(tag, status="Accepted", **more):
    info = {"status": status}
    info.update(more)
    return {"idTag": tag, "idTagInfo": info}


def _file(lst):
    with open(lst.path) as f:
        return f.read()


def test_a_full_list_replaces_and_a_differential_one_changes_it():
    lst = _list()
    assert lst.reported_version() == 0 and lst.info("A", NOW) is None  # none yet
    assert lst.update(2, "Full", [_entry("A"), _entry("B", "Blocked"), _entry("C", parentIdTag="P")]) == "Accepted"
    assert lst.reported_version() == 2 and lst.count == 3
    assert (lst.info("A", NOW), lst.info("B", NOW), lst.info("C", NOW)) == \
        (("Accepted", None), ("Blocked", None), ("Accepted", "P"))
    # Differential: B changed, A removed (no idTagInfo), D added; C kept.
    assert lst.update(5, "Differential", [_entry("B"), {"idTag": "A"}, _entry("D", "Invalid")]) == "Accepted"
    assert lst.reported_version() == 5 and lst.count == 3
    assert [lst.info(t, NOW) for t in "ABCD"] == [None, ("Accepted", None), ("Accepted", "P"), ("Invalid", None)]
    # Full again: only what it gives.
    assert lst.update(6, "Full", [_entry("E")]) == "Accepted"
    assert [lst.info(t, NOW) for t in "BCDE"] == [None, None, None, ("Accepted", None)]
    # Removing what is not there is no error.
    assert lst.update(7, "Differential", [{"idTag": "Z"}]) == "Accepted" and lst.count == 1


def test_a_differential_update_whose_version_does_not_follow_changes_nothing():
    lst = _list()
    assert lst.update(5, "Full", [_entry("A")]) == "Accepted"
    before = _file(lst)
    for version in (5, 4, 0, -1):
        assert lst.update(version, "Differential", [_entry("B")]) == "VersionMismatch"
    assert _file(lst) == before and lst.reported_version() == 5 and lst.info("B", NOW) is None
    assert lst.update(3, "Full", [_entry("B")]) == "Accepted"  # a Full list sets the version it gives
    assert lst.reported_version() == 3


def test_an_empty_list_is_version_0():
    lst = _list()
    assert lst.update(1, "Full", None) == "Accepted"  # localAuthorizationList omitted: emptied
    assert lst.reported_version() == 0 and lst.count == 0
    assert lst.update(1, "Differential", [_entry("A")]) == "Accepted"  # follows 0
    assert lst.reported_version() == 1


def test_bad_or_oversized_updates_fail_and_change_nothing():
    lst = _list(max_length=3)
    assert lst.update(1, "Full", [_entry("A"), _entry("B")]) == "Accepted"
    before = _file(lst)
    failing = (
        (2, "Full", [_entry("A"), _entry("A")]),  # a tag twice
        (2, "Full", [{"idTag": "A"}]),  # Full without idTagInfo
        (2, "Full", [_entry("A", "Maybe")]),
        (2, "Full", [_entry("X" * 21)]),
        (2, "Full", [_entry("A", expiryDate="soon")]),
        (2, "Full", ["A"]),
        (2, "Full", [_entry(t) for t in "CDEF"]),  # more than LocalAuthListMaxLength
        (2, "Differential", [_entry("C"), _entry("D")]),  # 4 then
        (2, "Full", [_entry(str(n)) for n in range(21)]),  # more than SendLocalListMaxLength
    )
    for version, kind, entries in failing:
        assert lst.update(version, kind, entries, 20) == "Failed", entries
    assert lst.update(2, "Full", [_entry("C")], send_max=0) == "Failed"
    for version, kind, entries in ((2, "Sometimes", []), (True, "Full", []), ("2", "Full", []), (2, "Full", {})):
        try:
            lst.update(version, kind, entries)
        except ValueError:
            pass
        else:
            raise AssertionError("taken: %r" % ((version, kind, entries),))
    assert _file(lst) == before and lst.reported_version() == 1 and lst.count == 2
    # Replacing and removing within the bound is fine.
    assert lst.update(2, "Differential", [_entry("C"), {"idTag": "A"}, _entry("B", "Blocked")]) == "Accepted"
    assert lst.count == 2


def test_an_accepted_tag_expires_and_the_list_survives_a_restart():
    lst = _list()
    assert lst.update(4, "Full", [_entry("A", expiryDate="2026-01-01T01:00:00Z"), _entry('Q"1', parentIdTag="P")]
                      ) == "Accepted"
    assert lst.info("A", NOW + 3599) == ("Accepted", None) and lst.info("A", NOW + 3600) == ("Expired", None)
    assert lst.info("A", None) == ("Accepted", None)  # the time not known yet
    again = LocalList(lst.path)
    assert again.reported_version() == 4 and again.count == 2
    assert again.info('Q"1', NOW) == ("Accepted", "P")  # a tag JSON must escape
    assert again.info("Q", NOW) is None and again.info("A", NOW + 3600) == ("Expired", None)
    # The file is a header and a line per tag.
    lines = _file(lst).splitlines()
    assert json.loads(lines[0]) == {"version": 4, "count": 2} and len(lines) == 3
