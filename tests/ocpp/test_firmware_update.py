"""UpdateFirmware, end to end: the real central system (the ``ocpp``
package, tests/ocpp/central_system.py) asks the real firmware (``evsectl
sim``, MicroPython unix port, virtual time) to update from a real update
server (``evsectl ota serve``'s) holding signed bundles; the firmware
installs through its OTA path (signature, slots, restart, health check,
rollback) and reports each step in FirmwareStatusNotification."""

import json
import time

import pytest

from ota_support import (built, charger, compiled, keys, make_bundle, make_keys, rewrite, slots,  # noqa: F401
                         started, update_server)
from test_core_e2e import central  # noqa: F401 (the fixture: a central system process)

PAST = "2020-01-01T00:00:00Z"  # a retrieveDate that is due at once


def ocpp_ota_charger(tmp_path, public_key, cs):
    """A simulated charger that trusts ``public_key`` for updates and is
    configured for the central system ``cs`` (retrying a lost link within a second)."""
    sim = charger(tmp_path, public_key, config=dict(OcppEndpoint="ws://127.0.0.1:%d/ocpp" % cs.port,
                                                      OcppBoxId="CP1", OcppSecurityProfile=0))
    (sim.device_dir / "ocpp.json").write_text(json.dumps(dict(RetryBackoffWaitMinimum=1, RetryBackoffRandomRange=0)))
    return sim


def firmware_statuses(cs):
    cs.drain()
    return [e["payload"]["status"] for e in cs.seen if e.get("got") == "FirmwareStatusNotification"]


def in_log(sim, text, timeout=20):
    deadline = time.monotonic() + timeout
    while text not in sim.output():
        assert time.monotonic() < deadline, "%r not in the log" % text
        time.sleep(0.1)


def gone(path, timeout=10):
    deadline = time.monotonic() + timeout
    while path.exists():
        assert time.monotonic() < deadline, "%s still there" % path
        time.sleep(0.05)


def update(cs, location, **extra):
    answer = cs.call("UpdateFirmware", dict(location=location, retrieveDate=PAST, **extra))
    assert answer["result"] == {}, answer
    return answer["after"]


def test_update_while_charging_waits_for_the_session_then_installs(tmp_path, built, keys, central, started):
    out = tmp_path / "dist"
    make_bundle(built, out, "0.2.0", keys[0])
    cs = central()
    with update_server(root=out) as server:
        sim = started(ocpp_ota_charger(tmp_path, keys[1], cs))
        c = sim.client
        boot = cs.got("BootNotification")["payload"]
        assert boot["firmware_version"] == "0.1.0"
        cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
        c.vehicle(State="C")
        c.advance(2000)
        cs.got("StartTransaction")
        cs.got("StatusNotification", where=lambda p: p["status"] == "Charging")

        update(cs, server.url)
        c.advance(5000)
        time.sleep(1.5)
        assert firmware_statuses(cs) == []  # nothing while the car charges
        assert slots(sim) == {"active": "slot_a"}

        c.vehicle(State="A")
        c.advance(2000)
        stop = cs.got("StopTransaction")
        cs.got("FirmwareStatusNotification", where=lambda p: p["status"] == "Downloading")
        cs.got("FirmwareStatusNotification", where=lambda p: p["status"] == "Installing", timeout=60)
        boot = cs.got("BootNotification", where=lambda p: p["firmware_version"] == "0.2.0", timeout=60)
        installed = cs.got("FirmwareStatusNotification", where=lambda p: p["status"] == "Installed", timeout=60)
        assert firmware_statuses(cs) == ["Downloading", "Downloaded", "Installing", "Installed"]
        assert stop["n"] < boot["n"] < installed["n"]
        assert c.status()["SystemVersion"] == "0.2.0"
        assert slots(sim) == {"active": "slot_b"}  # confirmed healthy before Installed was sent
        gone(sim.device_dir / "ocpp.fw")  # the job is over

        # Nothing runs now: a TriggerMessage is answered with Idle.
        assert cs.call("TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"})["result"] == \
            {"status": "Accepted"}
        cs.got("FirmwareStatusNotification", where=lambda p: p["status"] == "Idle")


def test_a_bundle_signed_with_another_key_is_refused_and_reported(tmp_path, built, keys, central, started):
    """The manifest's signature is checked before any file of the bundle is
    fetched: DownloadFailed, after every attempt, and the old version runs on."""
    out = tmp_path / "dist"
    make_bundle(built, out, "0.2.0", make_keys(tmp_path / "other")[0])
    cs = central()
    with update_server(root=out) as server:
        sim = started(ocpp_ota_charger(tmp_path, keys[1], cs))
        c = sim.client
        cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
        update(cs, server.url, retries=2, retryInterval=30)
        cs.got("FirmwareStatusNotification", where=lambda p: p["status"] == "Downloading")
        in_log(sim, "firmware download attempt 1 of 2: bad signature on the manifest of 0.2.0")
        c.advance(29000)
        time.sleep(1)
        assert firmware_statuses(cs) == ["Downloading"]  # the retry interval is on the charger's clock
        c.advance(2000)
        cs.got("FirmwareStatusNotification", where=lambda p: p["status"] == "DownloadFailed")
        assert firmware_statuses(cs) == ["Downloading", "Downloading", "DownloadFailed"]
        in_log(sim, "bad signature on the manifest of 0.2.0")
        assert c.status()["SystemVersion"] == "0.1.0"
        assert slots(sim) == {"active": "slot_a"} and not (sim.device_dir / "slot_b").exists()
        gone(sim.device_dir / "ocpp.fw")  # the job is over
        time.sleep(1)
        assert len(cs.calls("BootNotification")) == 1  # no restart


def test_a_version_that_does_not_come_up_is_rolled_back_and_reported(tmp_path, built, keys, central, started):
    out = tmp_path / "dist"
    bundle = make_bundle(built, out, "0.3.0", keys[0])
    rewrite(bundle, keys[0], {"app/runtime.mpy": compiled(tmp_path, 'raise RuntimeError("broken build")\n')})
    cs = central()
    with update_server(root=out) as server:
        sim = started(ocpp_ota_charger(tmp_path, keys[1], cs))
        cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
        update(cs, server.url)
        failed = cs.got("FirmwareStatusNotification", where=lambda p: p["status"] == "InstallationFailed",
                        timeout=60)
        boots = cs.calls("BootNotification")
        assert [b["firmware_version"] for b in boots] == ["0.1.0", "0.1.0"]  # 0.3.0 never got that far
        assert firmware_statuses(cs) == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
        assert failed["n"] > 0 and sim.client.status()["SystemVersion"] == "0.1.0"
        assert slots(sim) == {"active": "slot_a", "rolled_back": "0.3.0"}
        gone(sim.device_dir / "ocpp.fw")  # the job is over


def test_a_tampered_file_is_refused_while_downloading(tmp_path, built, keys, central, started):
    """A file changed after the bundle was signed: its SHA-256 is not the
    signed manifest's, so the download fails (DownloadFailed) and the slot is emptied."""
    out = tmp_path / "dist"
    bundle = make_bundle(built, out, "0.2.0", keys[0])
    tampered = bytearray((bundle / "app" / "runtime.mpy").read_bytes())
    tampered[-1] ^= 1  # one bit: the size is the signed one, the hash is not
    (bundle / "app" / "runtime.mpy").write_bytes(bytes(tampered))
    cs = central()
    with update_server(root=out) as server:
        sim = started(ocpp_ota_charger(tmp_path, keys[1], cs))
        cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
        update(cs, server.url)
        cs.got("FirmwareStatusNotification", where=lambda p: p["status"] == "DownloadFailed")
        assert firmware_statuses(cs) == ["Downloading", "DownloadFailed"]
        in_log(sim, "app/runtime.mpy: SHA-256 mismatch")  # the simulator's output may come a moment later
        assert slots(sim) == {"active": "slot_a"} and not (sim.device_dir / "slot_b").exists()
        assert sim.client.status()["SystemVersion"] == "0.1.0"


T0 = 1767225600  # 2026-01-01T00:00:00Z, the central system's time (it follows no real clock here)


def test_the_download_waits_for_its_retrieve_date(tmp_path, built, keys, central, started):
    out = tmp_path / "dist"
    make_bundle(built, out, "0.2.0", keys[0])
    cs = central(clock=T0, interval=86400)  # no Heartbeat to set the clock back
    with update_server(root=out) as server:
        sim = started(ocpp_ota_charger(tmp_path, keys[1], cs))
        c = sim.client
        cs.got("StatusNotification", where=lambda p: p["status"] == "Available")
        answer = cs.call("UpdateFirmware", dict(location=server.url, retrieveDate="2026-01-01T00:10:00Z"))
        assert answer["result"] == {}
        c.advance(590 * 1000)
        time.sleep(1)
        assert firmware_statuses(cs) == []  # 00:09:50 on the charger's clock
        c.advance(15 * 1000)
        cs.got("FirmwareStatusNotification", where=lambda p: p["status"] == "Downloading")
        cs.got("FirmwareStatusNotification", where=lambda p: p["status"] == "Installing", timeout=60)
