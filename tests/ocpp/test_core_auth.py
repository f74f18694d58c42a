"""Id tags at the charger and the authorization cache, end to end: the real
firmware (``evsectl sim``, MicroPython unix port) against the real central
system (tests/ocpp/central_system.py).

What the central system said about a card (Authorize, StartTransaction) is
cached on the charger (ocpp.authcache): offline, a card it accepted charges
(LocalAuthorizeOffline), one it blocked does not, and one it never saw only
with AllowOfflineTxForUnknownId; ClearCache forgets them all. With
LocalPreAuthorize, a card accepted before starts at once, without an
Authorize. A card the charger refuses is seen in its log, so the tests wait
for that line rather than for a while.
"""

import time

from test_core_e2e import central  # noqa: F401 (the fixture: a central system process)
from test_core_e2e import ocpp_charger


def _wait(what, condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _link(sim):
    return sim.client.ok(sim.client.get("/sim/v1/Ocpp"))


def _card(sim, tag):
    sim.client.ok(sim.client.post("/sim/v1/Card", {"IdTag": tag}))


def _refused(sim, tag, why):
    """Show ``tag``; the charger refuses it (a new line in its log) and does not charge."""
    line = "ocpp: id tag %s not authorized: %s" % (tag, why)
    seen = sim.output().count(line)
    _card(sim, tag)
    _wait(line, lambda: sim.output().count(line) > seen)
    assert not sim.client.board()["RelayClosed"]


def _charging(sim, yes=True):
    _wait("charging" if yes else "not charging", lambda: sim.client.board()["RelayClosed"] == yes)


def test_offline_the_authorization_cache_decides_and_clear_cache_empties_it(sim_factory, central):
    cs = central(authorize={"BLOCKED1": "Blocked"})
    sim = ocpp_charger(sim_factory, cs, ChargeAutoStart=False)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    sim.client.vehicle(State="C")
    _card(sim, "CARD1")  # online: Authorize, Accepted, cached
    assert cs.got("StartTransaction")["payload"]["id_tag"] == "CARD1"
    _charging(sim)
    _card(sim, "CARD1")  # its own card ends it
    assert cs.got("StopTransaction")["payload"]["reason"] == "Local"
    _charging(sim, False)
    _refused(sim, "BLOCKED1", "Blocked")
    assert cs.got("Authorize", where=lambda p: p["id_tag"] == "BLOCKED1")

    port = cs.port
    cs.stop()
    _wait("offline", lambda: not _link(sim)["Connected"])
    _refused(sim, "BLOCKED1", "Blocked")  # blocked, as the central system last said
    _refused(sim, "NEVERSEEN", "unknown offline")  # and AllowOfflineTxForUnknownId is false
    _card(sim, "CARD1")  # accepted before: charges offline (LocalAuthorizeOffline, true by default)
    _charging(sim)
    _card(sim, "CARD1")
    _charging(sim, False)

    back = central(port=port)
    stop = back.got("StopTransaction", timeout=60)["payload"]  # the offline transaction, replayed
    assert [p["id_tag"] for p in back.calls("StartTransaction")] == ["CARD1"] and stop["reason"] == "Local"
    _wait("journal sent", lambda: _link(sim)["Journal"] == 0)
    assert back.call("ClearCache", {})["result"]["status"] == "Accepted"
    back.stop()
    _wait("offline", lambda: not _link(sim)["Connected"])
    _refused(sim, "CARD1", "unknown offline")  # forgotten: unknown now


def test_local_pre_authorize_starts_a_known_card_without_asking(sim_factory, central):
    cs = central()
    sim = ocpp_charger(sim_factory, cs, ChargeAutoStart=False)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    assert cs.call("ChangeConfiguration", {"key": "LocalPreAuthorize", "value": "true"})["result"]["status"] == \
        "Accepted"
    sim.client.vehicle(State="C")
    _card(sim, "CARD2")  # not cached yet: asked
    assert cs.got("Authorize")["payload"]["id_tag"] == "CARD2"
    cs.got("StartTransaction")
    _card(sim, "CARD2")
    cs.got("StopTransaction")
    _charging(sim, False)
    _card(sim, "CARD2")  # cached Accepted: starts at once
    assert cs.got("StartTransaction")["payload"]["id_tag"] == "CARD2"
    assert len(cs.calls("Authorize")) == 1


def test_values_this_charger_cannot_honour_are_rejected(sim_factory, central):
    cs = central()
    ocpp_charger(sim_factory, cs)
    cs.got("StatusNotification")
    for key in ("StopTransactionOnEVSideDisconnect", "UnlockConnectorOnEVSideDisconnect"):
        assert cs.call("ChangeConfiguration", {"key": key, "value": "false"})["result"]["status"] == "Rejected"
        assert cs.call("ChangeConfiguration", {"key": key, "value": "true"})["result"]["status"] == "Accepted"
        shown = cs.call("GetConfiguration", {"key": [key]})["result"]["configuration_key"][0]
        assert shown["value"] == "true"
