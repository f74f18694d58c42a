"""The authorization cache (firmware/ocpp/authcache.py), under CPython and
under the MicroPython unix ports (test_ocpp_micropython.py runs this module
there too): what the central system said about an id tag, its expiry, the
bound, ClearCache, and that it survives a restart and ignores nonsense."""

import json

from flashdir import fresh
from ocpp.authcache import AuthCache

NOW = 1767225600  # 2026-01-01T00:00:00Z


def _cache(size=32):
    return AuthCache(fresh() + "/ocpp.auth", size)


def test_the_last_answer_for_a_tag_is_its_status():
    c = _cache()
    assert c.status("CARD1", NOW) is None  # never heard of
    assert c.put("CARD1", {"status": "Accepted"})
    assert c.put("CARD2", {"status": "Blocked", "parentIdTag": "P"})
    assert (c.status("CARD1", NOW), c.status("CARD2", NOW)) == ("Accepted", "Blocked")
    c.put("CARD1", {"status": "Invalid"})
    assert c.status("CARD1", NOW) == "Invalid" and len(c) == 2


def test_an_accepted_tag_expires_at_its_expiry_date():
    c = _cache()
    c.put("CARD1", {"status": "Accepted", "expiryDate": "2026-01-01T01:00:00Z"})
    assert c.status("CARD1", NOW + 3599) == "Accepted"
    assert c.status("CARD1", NOW + 3600) == "Expired"
    assert c.status("CARD1", None) == "Accepted"  # the charger does not know the time yet


def test_it_survives_a_restart_and_clear_cache_empties_it():
    c = _cache()
    c.put("CARD1", {"status": "Accepted", "expiryDate": "2026-01-01T01:00:00Z"})
    again = AuthCache(c.path)
    assert again.status("CARD1", NOW) == "Accepted" and again.status("CARD1", NOW + 3600) == "Expired"
    again.clear()
    assert len(again) == 0 and len(AuthCache(c.path)) == 0


def test_the_tag_updated_longest_ago_goes_first():
    c = _cache(size=3)
    for tag in ("A", "B", "C"):
        c.put(tag, {"status": "Accepted"})
    c.put("A", {"status": "Blocked"})  # A is now the newest
    c.put("D", {"status": "Accepted"})
    assert c.status("B", NOW) is None and [c.status(t, NOW) for t in "ACD"] == ["Blocked", "Accepted", "Accepted"]
    again = AuthCache(c.path, 3)
    again.put("E", {"status": "Accepted"})  # the order is kept across a restart
    assert again.status("C", NOW) is None and again.status("A", NOW) == "Blocked"


def test_nonsense_is_ignored_and_changes_nothing():
    c = _cache()
    c.put("CARD1", {"status": "Accepted"})
    with open(c.path) as f:
        before = f.read()
    for tag, info in ((7, {"status": "Accepted"}), ("X", {"status": "Maybe"}), ("X", None), ("X", "Accepted")):
        assert c.put(tag, info) is False
    with open(c.path) as f:
        assert f.read() == before
    with open(c.path, "w") as f:
        f.write(json.dumps({"CARD1": ["Accepted", 0, 1], "BAD": ["Whatever", 0, 2], "B2": "x"}))
    loaded = AuthCache(c.path)
    assert len(loaded) == 1 and loaded.status("CARD1", NOW) == "Accepted"
    with open(c.path, "w") as f:
        f.write("{not json")
    assert len(AuthCache(c.path)) == 0


def test_a_tag_s_parent_is_kept_for_reservations_and_survives_a_restart():
    c = _cache()
    c.put("CARD1", {"status": "Accepted", "parentIdTag": "FLEET"})
    c.put("CARD2", {"status": "Accepted"})
    assert (c.parent("CARD1"), c.parent("CARD2"), c.parent("NONE")) == ("FLEET", None, None)
    assert AuthCache(c.path).parent("CARD1") == "FLEET"
    c.put("CARD1", {"status": "Accepted"})  # the central system no longer gives one
    assert c.parent("CARD1") is None and AuthCache(c.path).parent("CARD1") is None
