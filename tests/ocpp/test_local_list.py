"""The Local Authorization List, end to end: SendLocalList and
GetLocalListVersion from the real central system (tests/ocpp/central_system.py)
to the real firmware (``evsectl sim``, MicroPython unix port), the list
deciding on cards (before the authorization cache offline; online with
LocalPreAuthorize), and the list surviving a kill of the firmware. Names
follow OCA's TC_042 and TC_043."""

from test_core_auth import _card, _charging, _link, _refused, _wait
from test_core_e2e import central  # noqa: F401 (the fixture: a central system process)
from test_core_e2e import ocpp_charger
from test_core_kill import _kill_firmware


def _entry(tag, status="Accepted"):
    return {"idTag": tag, "idTagInfo": {"status": status}}


def _send(cs, version, kind, entries=None):
    payload = {"listVersion": version, "updateType": kind}
    if entries is not None:
        payload["localAuthorizationList"] = entries
    return cs.call("SendLocalList", payload)["result"]["status"]


def _version(cs):
    return cs.call("GetLocalListVersion", {})["result"]["list_version"]


def _offline(sim, cs):
    cs.stop()
    _wait("offline", lambda: not _link(sim)["Connected"])


def test_tc_042_043_versions_and_a_differential_update_that_does_not_follow(sim_factory, central):
    cs = central(authorize={"BOTH": "Blocked"})
    sim = ocpp_charger(sim_factory, cs, ChargeAutoStart=False)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    shown = {k["key"]: k for k in cs.call("GetConfiguration", {"key": [
        "LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength", "SupportedFeatureProfiles"]}
    )["result"]["configuration_key"]}
    assert shown["LocalAuthListEnabled"]["value"] == "true" and not shown["LocalAuthListEnabled"]["readonly"]
    assert shown["LocalAuthListMaxLength"]["readonly"] and shown["SendLocalListMaxLength"]["value"] == "20"
    assert "LocalAuthListManagement" in shown["SupportedFeatureProfiles"]["value"].split(",")
    assert _version(cs) == 0  # none yet
    assert _send(cs, 1, "Full") == "Accepted" and _version(cs) == 0  # TC_042_2: empty is version 0
    # TC_043_2: Full 2, Differential 5, then one that does not follow: VersionMismatch, nothing changed.
    assert _send(cs, 2, "Full", [_entry("LIST1"), _entry("LBLOCK", "Blocked"), _entry("BOTH")]) == "Accepted"
    assert _version(cs) == 2
    assert _send(cs, 5, "Differential", [_entry("LIST2"), {"idTag": "LIST1"}]) == "Accepted"
    assert _version(cs) == 5
    assert _send(cs, 4, "Differential", [_entry("LATE")]) == "VersionMismatch"
    assert _send(cs, 5, "Differential", [_entry("LATE")]) == "VersionMismatch"
    assert _version(cs) == 5
    assert _send(cs, 6, "Differential", [_entry("T%d" % n) for n in range(21)]) == "Failed"  # > SendLocalListMaxLength
    assert _send(cs, 6, "Full", [{"idTag": "NOINFO"}]) == "Failed" and _version(cs) == 5
    # BOTH: Blocked in the cache (the central system says so online), Accepted on the list.
    sim.client.vehicle(State="C")
    _refused(sim, "BOTH", "Blocked")
    assert cs.got("Authorize", where=lambda p: p["id_tag"] == "BOTH")

    _offline(sim, cs)
    _refused(sim, "LATE", "unknown offline")  # the update that did not follow changed nothing
    _refused(sim, "LIST1", "unknown offline")  # removed by the differential update
    _refused(sim, "LBLOCK", "Blocked")  # as the list says
    _card(sim, "BOTH")  # the list decides before the cache
    _charging(sim)
    _card(sim, "BOTH")
    _charging(sim, False)
    _card(sim, "LIST2")
    _charging(sim)


def test_the_list_survives_a_kill_and_decides_online_with_local_pre_authorize(sim_factory, central):
    cs = central()
    sim = ocpp_charger(sim_factory, cs, ChargeAutoStart=False)
    cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
    assert _send(cs, 3, "Full", [_entry("KEPT"), _entry("ONLYLIST")]) == "Accepted"
    _kill_firmware(sim)  # a power cut, as far as the flash is concerned
    cs.got("BootNotification")
    assert _version(cs) == 3
    # Online with LocalPreAuthorize: a tag the list accepts starts without an Authorize.
    assert cs.call("ChangeConfiguration", {"key": "LocalPreAuthorize", "value": "true"})["result"]["status"] == \
        "Accepted"
    sim.client.vehicle(State="C")
    _card(sim, "KEPT")
    assert cs.got("StartTransaction")["payload"]["id_tag"] == "KEPT"
    _charging(sim)
    _card(sim, "KEPT")
    cs.got("StopTransaction")
    _charging(sim, False)
    cs.drain()
    assert not cs.calls("Authorize")
    # LocalAuthListEnabled false: no list (-1), none taken, none used.
    assert cs.call("ChangeConfiguration", {"key": "LocalAuthListEnabled", "value": "false"})["result"]["status"] == \
        "Accepted"
    assert _version(cs) == -1 and _send(cs, 4, "Full", []) == "NotSupported"  # TC_042_1, TC_043_1
    assert cs.call("ChangeConfiguration", {"key": "LocalPreAuthorize", "value": "false"})["result"]["status"] == \
        "Accepted"
    _offline(sim, cs)
    _refused(sim, "ONLYLIST", "unknown offline")  # (KEPT is in the cache now, from its StartTransaction)
