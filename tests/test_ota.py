"""OTA on the device, end to end: the real firmware under the MicroPython
unix port (``evsectl sim``) checks a real update server (``evsectl ota
serve``'s), downloads, verifies, switches slots and restarts into the new
version; every way an update can go wrong leaves the old version running
and nothing half-installed; a version that crashes on boot is rolled back.
"""

import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from evsectl import build, device, ota, romfs
from ota_support import (built, charger, compiled, info, keys, make_bundle, make_keys, rewrite, settled,  # noqa: F401
                         slots, started, update_server)
from simclient import DOWN

SYSINFO = "/webapi/v1/SystemInfo"


@pytest.fixture(scope="module")
def dist(tmp_path_factory, built, keys):
    """A directory of bundles as ``evsectl ota serve`` serves it: 0.2.0, signed."""
    out = tmp_path_factory.mktemp("dist")
    make_bundle(built, out, "0.2.0", keys[0])
    return out


def toggle(client, name):
    return client.ok(client.post(SYSINFO, {name: True}))[name]


def assert_old_version_intact(sim):
    c = sim.client
    assert c.status()["SystemVersion"] == "0.1.0"
    assert slots(sim) == {"active": "slot_a"}
    assert not (sim.device_dir / "slot_b").exists()  # nothing half-installed
    assert "firmware restarting" not in sim.output()


def rom_slot(sim, index):
    """What the simulated board's romfs partition holds in ROM slot ``index``."""
    return (sim.device_dir / device.ROM_PARTITION).read_bytes()[index * romfs.SLOT_SIZE:(index + 1) * romfs.SLOT_SIZE]


@pytest.mark.parametrize("rom", [False, True], ids=["files", "romfs"])
def test_check_then_run_installs_the_new_version_which_confirms_itself(tmp_path, keys, dist, started, rom):
    with update_server(root=dist) as server:
        sim = started(charger(tmp_path, keys[1], server.url, rom=rom))
        c = sim.client
        before = info(c)
        assert before["OTAMsg"] == "" and before["OTACheckAllowed"] and not before["OTAUpdateAllowed"]

        assert toggle(c, "UpdateCheckToggle") == "Performing"
        after_check = settled(c)
        assert after_check["OTAMsg"] == "Update available: 0.2.0 (running 0.1.0)"
        assert after_check["OTAUpdateAllowed"] is True
        assert slots(sim) == {"active": "slot_a"}  # a check changes nothing

        assert toggle(c, "UpdateRunToggle") == "Performing"
        done = settled(c)
        assert done["OTAMsg"] == "Updated to 0.2.0", done
        assert done["SystemVersion"] == c.status()["SystemVersion"] == "0.2.0"
        assert slots(sim) == {"active": "slot_b"}  # confirmed: no trial left
        installed = sim.device_dir / "slot_b"
        if rom:  # the image went into the partition's second slot; the first still holds 0.1.0
            image = (dist / "evse-0.2.0-sim" / build.ROM_IMAGE).read_bytes()
            assert rom_slot(sim, 1)[:len(image)] == image
            first = rom_slot(sim, 0)
            assert first[:3] == image[:3] and first[:len(image)] != image  # a ROMFS image, the old one
            assert not installed.exists()
            assert [p for p in server.served if "/0.2.0/" in p and not p.endswith("/manifest.sig")] == [
                "/sim/0.2.0/app.romfs"]  # the image alone
        else:
            manifest = (dist / "evse-0.2.0-sim" / "manifest.json").read_bytes()
            assert (installed / "manifest.json").read_bytes() == manifest
            assert not (installed / "boot.py").exists()  # the loaders are deploy's, never OTA's
            assert not (installed / build.ROM_IMAGE).exists()
        assert "firmware restarting" in sim.output()

        # The new version is kept across restarts, and knows it is the newest.
        c.ok(c.post(SYSINFO, {"SCode": "Reset"}))
        time.sleep(1)
        c.wait_ready(20)
        assert c.status()["SystemVersion"] == "0.2.0"
        toggle(c, "UpdateCheckToggle")
        assert settled(c)["OTAMsg"] == "Up to date: 0.2.0 is the newest version for board sim"


def test_refused_in_ap_mode_while_charging_and_without_key_or_server(tmp_path, keys, dist, started):
    with update_server(root=dist) as server:
        sim = started(charger(tmp_path, keys[1], server.url))
        c = sim.client
        c.vehicle(State="C")
        c.advance(3000)
        assert c.board()["RelayClosed"]
        assert toggle(c, "UpdateRunToggle") == "Not allowed while a vehicle is charging"
        got = info(c)
        assert got["OTAMsg"] == "Not allowed while a vehicle is charging" and not got["OTAUpdateAllowed"]
        assert got["OTACheckAllowed"]  # a check does not disturb the session
        c.vehicle(State="A")
        c.advance(1000)

        c.ok(c.post(SYSINFO, {"SCode": "WiFiSetToAP"}))
        for name in ("UpdateCheckToggle", "UpdateRunToggle"):
            assert toggle(c, name) == "Operation not allowed in WiFi AP mode!"
        got = info(c)
        assert got["OTAMsg"] == "Operation not allowed in WiFi AP mode!"
        assert not got["OTACheckAllowed"] and not got["OTAUpdateAllowed"]
        assert slots(sim) == {"active": "slot_a"} and server.served == []

    no_key = started(charger(tmp_path, None, "http://127.0.0.1:9", name="nokey"))
    assert info(no_key.client)["OTAMsg"] == "No OTA public key installed (ota_pubkey.json)"
    assert toggle(no_key.client, "UpdateCheckToggle") == "No OTA public key installed (ota_pubkey.json)"

    no_server = started(charger(tmp_path, keys[1], None, name="noserver"))
    assert toggle(no_server.client, "UpdateRunToggle") == "No update server configured"
    assert info(no_server.client)["OTACheckAllowed"] is False


BAD_SERVERS = ["https://updates.example", "ftp://10.0.0.1", "http://", "http://a b/", "http://host:99999",
               "10.0.0.1:8000", 5, "http://x/" + "y" * 130]


def test_update_server_is_an_http_url_or_nothing(sim):
    for value in BAD_SERVERS:
        r = sim.post("/webapi/v1/SystemConfig", {"UpdateServer": value, "ChargeCurrent": 10})
        assert r.status == 400 and set(r.json["Errors"]) == {"UpdateServer"}, value
    assert sim.ok(sim.get("/webapi/v1/SystemConfig"))["ChargeCurrent"] == 16  # nothing changed
    assert sim.config(UpdateServer="http://192.168.0.10:8000/evse")["UpdateServer"] == "http://192.168.0.10:8000/evse"
    assert sim.config(UpdateServer="")["UpdateServer"] == ""


def cutting(rel):
    """An update server that sends half of the bundle file ``rel``, then drops
    the connection: a download interrupted."""

    class Cutting(ota.BundleHandler):
        def send_body(self, data):
            if self.path.endswith("/" + rel):
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            super().send_body(data)

    return Cutting


def tampering(rel):
    """Spoils the bundle file ``rel`` after signing: the manifest no longer matches it."""

    def tamper(bundle, keys):
        path = bundle / rel
        path.write_bytes(path.read_bytes()[:-1] + bytes([path.read_bytes()[-1] ^ 0xFF]))

    return tamper


def sign_with_another_key(bundle, keys):
    other = make_keys(bundle.parent / "other-keys")
    ota.sign(bundle, other[0])


def unsigned(bundle, keys):
    (bundle / build.SIGNATURE).unlink()


def failed_update(tmp_path, keys, dist, started, spoil, handler, reason, rom=False):
    """Update from 0.2.0's bundle, ``spoil``-ed or served by ``handler``; check
    that it failed for ``reason`` and left 0.1.0 running. Returns the
    simulator and what its ROM slot A held before (with ``rom``)."""
    bundle = tmp_path / "one" / "evse-0.2.0-sim"
    shutil.copytree(dist / "evse-0.2.0-sim", bundle)
    if spoil:
        spoil(bundle, keys)
    with update_server(bundle=bundle, handler=handler) as server:
        sim = started(charger(tmp_path, keys[1], server.url, rom=rom))
        before = rom_slot(sim, 0) if rom else None
        c = sim.client
        toggle(c, "UpdateRunToggle")
        got = settled(c)
        assert got["OTAMsg"].startswith("Update failed: ") and reason in got["OTAMsg"], got["OTAMsg"]
        assert got["OTAMsg"].endswith("; still running 0.1.0")
        assert_old_version_intact(sim)
    return sim, before


@pytest.mark.parametrize("spoil, handler, reason", [
    (tampering("evse/kernel.mpy"), None, "evse/kernel.mpy: SHA-256 mismatch"),
    (sign_with_another_key, None, "bad signature on the manifest of 0.2.0"),
    (unsigned, None, "manifest.sig: HTTP 404"),
    (None, cutting("evse/kernel.mpy"), "evse/kernel.mpy: got "),
])
def test_a_failed_update_leaves_the_old_version_running(tmp_path, keys, dist, started, spoil, handler, reason):
    failed_update(tmp_path, keys, dist, started, spoil, handler, reason)


@pytest.mark.parametrize("spoil, handler, reason", [
    (tampering(build.ROM_IMAGE), None, "app.romfs: SHA-256 mismatch"),
    (None, cutting(build.ROM_IMAGE), "app.romfs: got "),
])
def test_a_failed_update_into_rom_leaves_the_old_version_and_an_erased_slot(tmp_path, keys, dist, started, spoil,
                                                                             handler, reason):
    sim, before = failed_update(tmp_path, keys, dist, started, spoil, handler, reason, rom=True)
    assert rom_slot(sim, 0) == before
    assert rom_slot(sim, 1)[:4096] == b"\xff" * 4096  # what was written is not mountable


def test_an_older_or_equal_version_is_not_installed(tmp_path, built, keys, started):
    out = tmp_path / "dist"
    make_bundle(built, out, "0.1.0", keys[0])
    with update_server(root=out) as server:
        sim = started(charger(tmp_path, keys[1], server.url))
        toggle(sim.client, "UpdateRunToggle")
        assert settled(sim.client)["OTAMsg"] == "Up to date: 0.1.0 is the newest version for board sim"
        assert_old_version_intact(sim)


@pytest.mark.parametrize("rom", [False, True], ids=["files", "romfs"])
def test_a_version_that_crashes_on_boot_is_rolled_back(tmp_path, built, keys, started, rom):
    out = tmp_path / "dist"
    bundle = make_bundle(built, out, "0.3.0", keys[0])
    rewrite(bundle, keys[0], {"app/runtime.mpy": compiled(tmp_path, 'raise RuntimeError("broken build")\n')})
    with update_server(root=out) as server:
        sim = started(charger(tmp_path, keys[1], server.url, rom=rom))
        c = sim.client
        toggle(c, "UpdateRunToggle")
        got = settled(c)
        assert got["OTAMsg"] == "Update to 0.3.0 did not come up healthy; rolled back to 0.1.0", got
        assert c.status()["SystemVersion"] == "0.1.0"
        assert slots(sim) == {"active": "slot_a", "rolled_back": "0.3.0"}
        log = sim.output()
        assert "broken build" in log and "slot_b was not confirmed healthy; back to slot_a" in log


# -- a full flash: the simulator on a small tmpfs of its own --------------------------------


def unshare_works():
    try:
        done = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                               "mount -t tmpfs -o size=64k none /tmp"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


needs_unshare = pytest.mark.skipif(not unshare_works(),
                                   reason="needs unshare(1) with user and mount namespaces to mount a small tmpfs")


def on_tmpfs(sim, size_kib, files):
    """Run ``sim`` in its own mount namespace with its device directory on a
    tmpfs of ``size_kib``, holding copies of ``files`` (its key and config)."""
    dev = str(sim.device_dir)
    script = 'mount -t tmpfs -o size=%dk none "$0" && cp %s "$0"/ && exec "$@"' % (
        size_kib, " ".join('"%s"' % f for f in files))
    sim.cmd = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, dev] + sim.cmd
    return sim


def used_kib(path):
    """What a directory takes on a tmpfs: whole 4 KiB pages per file."""
    total = 0
    for root, dirs, files in os.walk(path):
        total += 4 * len(dirs)
        total += sum(-(-os.path.getsize(os.path.join(root, f)) // 4096) * 4 for f in files)
    return total


def full_flash_charger(tmp_path, keys, url, spare_kib):
    sim = charger(tmp_path, keys[1], url)
    files = [sim.device_dir / ota.PUBLIC_KEY, sim.device_dir / "config.json"]
    for f in files:  # they move onto the tmpfs
        f.rename(tmp_path / f.name)
    probe = tmp_path / "probe"
    from evsectl import device

    device.assemble(probe, "sim")
    return on_tmpfs(sim, used_kib(probe) + 64 + spare_kib, [tmp_path / f.name for f in files])


@needs_unshare
def test_a_flash_too_full_for_the_update_is_refused_before_writing(tmp_path, keys, dist, started):
    with update_server(root=dist) as server:
        sim = started(full_flash_charger(tmp_path, keys, server.url, spare_kib=64))
        c = sim.client
        toggle(c, "UpdateRunToggle")
        got = settled(c)
        assert "not enough flash for 0.2.0" in got["OTAMsg"] and "still running 0.1.0" in got["OTAMsg"], got
        assert not [p for p in server.served if "/0.2.0/" in p and not p.endswith("manifest.sig")]
        assert c.status()["SystemVersion"] == "0.1.0"
        assert json.loads(subprocess.run(["cat", "/proc/%d/root%s/slots.json" % (sim.proc.pid, sim.device_dir)],
                                         capture_output=True, text=True).stdout) == {"active": "slot_a"}


@needs_unshare
def test_the_flash_filling_up_during_the_download_leaves_the_old_version(tmp_path, keys, dist, started):
    holder = {"sent": 0}
    lock = threading.Lock()

    class FillsTheFlash(ota.BundleHandler):
        """Before the fifth file, something else takes all the space left.

        The files are counted as their bodies start, not from
        ``server.served``: the server answers each request on its own thread
        and records a path only after its body went out, by which time the
        charger may already be asking for the next file."""

        def send_body(self, data):
            with lock:
                holder["sent"] += "/0.2.0/" in self.path
                fill = holder["sent"] == 5
            if fill:
                holder["filled"] = True
                filler = "/proc/%d/root%s/filler" % (holder["pid"], holder["dev"])
                subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=4k"], capture_output=True)
            super().send_body(data)

    with update_server(root=dist, handler=FillsTheFlash) as server:
        sim = started(full_flash_charger(tmp_path, keys, server.url, spare_kib=1024))
        holder.update(pid=sim.proc.pid, dev=sim.device_dir)
        c = sim.client
        toggle(c, "UpdateRunToggle")
        got = settled(c)
        assert holder.get("filled")
        assert "flash full while writing 0.2.0" in got["OTAMsg"], got
        assert c.status()["SystemVersion"] == "0.1.0"
        inside = "/proc/%d/root%s" % (sim.proc.pid, sim.device_dir)
        assert not os.path.exists(inside + "/slot_b")  # the partial slot was removed
        with open(inside + "/slots.json") as f:
            assert json.load(f) == {"active": "slot_a"}


def test_an_answer_is_never_cut_short_unnoticed_by_a_restart(sim_factory):
    """Why test_check_then_run_... once saw an empty body: the firmware
    restarts (after an update, a Reset) while answering the test's polling.
    Its answers were then written member by member with no Content-Length,
    so an answer cut short after its headers read as a whole, empty 200.
    Now every answer is made whole and handed to the socket in one go with
    its Content-Length (app.webapi.Server): a poll across restarts gets a
    whole answer, or fails as the device being down (simclient.DOWN),
    never a 200 that is not whole."""

    proc = sim_factory()
    c = proc.client
    stop = threading.Event()
    seen = {"whole": 0, "down": 0, "bad": []}

    def poll():
        while not stop.is_set():
            try:
                r = c.get(SYSINFO)
            except DOWN:
                seen["down"] += 1
                continue
            try:
                assert r.status == 200 and "OTAMsg" in json.loads(r.body)
                seen["whole"] += 1
            except (AssertionError, ValueError):
                seen["bad"].append(r)

    pollers = [threading.Thread(target=poll) for _ in range(2)]
    for t in pollers:
        t.start()
    try:
        for _ in range(4):
            c.ok(c.post(SYSINFO, {"SCode": "Reset"}))
            time.sleep(0.5)
            c.wait_ready(20)
    finally:
        stop.set()
        for t in pollers:
            t.join()
    assert not seen["bad"], seen["bad"][:3]
    assert seen["whole"] > 0 and seen["down"] > 0, seen  # polled across the restarts
