"""Firmware updates over the network: check, download, verify, switch, confirm.

Imported only when an update action runs or a new version must confirm its
health, so it costs no heap otherwise. The update server (``UpdateServer``
in the configuration, or the one ``evsectl ota push`` names) serves, per
board::

    <server>/<board>/manifest.json             the newest bundle's manifest
    <server>/<board>/<version>/manifest.sig    its RSA signature
    <server>/<board>/<version>/<path>          every file the manifest lists

``check`` fetches the manifest and its signature and verifies both before
believing a word of it: RSA PKCS#1 v1.5 over SHA-256, against the public key
in ``ota_pubkey.json`` at the flash root (``{"n": "<hex>", "e": 65537}``,
installed by deploy, never by OTA). ``run`` then streams the new version into
the inactive slot, checking sizes and SHA-256: on a board with a romfs
partition the bundle's ROM image (``app.romfs``) into that slot's half of the
partition, read back before it is made mountable (hal/romfs.py); otherwise
every other file into the slot's directory. Only when all is in place does it
rewrite ``slots.json`` (atomically) to make that slot active on trial, and
restart. Whatever goes wrong before that rewrite (server gone,
wrong hash, bad signature, flash full, a vehicle starting to charge) leaves
the running version active and the inactive slot removed. The loader
(boot.py) counts the trial boot; ``confirm`` marks the new version healthy
once it has run for HEALTH_S with the control loop ticking and its own
WebAPI answering (checked up to HEALTH_CHECKS times, so within two minutes),
or else restarts it so that the loader rolls it back.

The boot loaders (boot.py, main.py), board.json and the key are not part of
an update: they change only by deploy.
"""

import asyncio
import binascii
import hashlib
import json
import os
import sys

from app import log
from app.atomic import read_json, write_atomic
from app.config import parse_http_url
from hal import romfs
from version import VERSION

KEY_FILE = "ota_pubkey.json"
SLOTS_FILE = "slots.json"
SLOTS = ("slot_a", "slot_b")
ROOT_FILES = ("boot.py", "main.py", "board.json")  # in a bundle, but never replaced by OTA
ROM_IMAGE = "app.romfs"  # in a bundle: the slot's files as one ROMFS image (evsectl build)
MAX_MANIFEST = 16384
MAX_SIGNATURE = 1024
CHUNK = 1024
TIMEOUT_S = 10  # per connection attempt and per read
HEALTH_S = 30  # a new version must run this long, healthy, to be kept;
HEALTH_CHECKS = 4  # it gets this many checks, HEALTH_S apart, or it is rolled back
SIM_HEALTH_S = 2  # the simulator's (a laptop has no brown-outs to ride out; tests stay short)
ENOSPC = 28
# DER prefix of a SHA-256 DigestInfo (RFC 8017, 9.2 note 1).
_SHA256_INFO = b"\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20"
_PATH_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./"


class OtaError(Exception):
    """An update step that failed for a reason worth showing in OTAMsg."""


# -- verification -----------------------------------------------------------------


def load_key(path=KEY_FILE):
    """(n, e, modulus length in bytes) from the public key file, or None."""
    try:
        with open(path) as f:
            key = json.load(f)
        n_hex = key["n"]
        return int(n_hex, 16), int(key["e"]), len(n_hex) // 2
    except (OSError, ValueError, KeyError, TypeError):
        return None


def verify(digest, signature, key):
    """True if ``signature`` is the RSA PKCS#1 v1.5 signature of the SHA-256
    ``digest`` under ``key``. Only the public exponent is used, so this is
    one ``pow`` with small exponent on MicroPython's long integers."""
    n, e, k = key
    if len(signature) != k:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    t = _SHA256_INFO + digest
    expected = b"\x00\x01" + b"\xff" * (k - 3 - len(t)) + b"\x00" + t
    return pow(s, e, n) == int.from_bytes(expected, "big")


def parse_version(text):
    """"Major.Minor.Build" → a comparable tuple, or None."""
    parts = text.split(".") if isinstance(text, str) else ()
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def _safe_path(path):
    """A manifest path that stays inside the slot: relative, no "..", plain characters."""
    if not isinstance(path, str) or not path or path[0] == "/" or len(path) > 64:
        return False
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return False
    return all(c in _PATH_CHARS for c in path)


def _mpy_version():
    """(version, sub-version) of the .mpy files this interpreter loads; None on CPython."""
    mpy = getattr(sys.implementation, "_mpy", None)
    return None if mpy is None else (mpy & 0xFF, mpy >> 8 & 3)


def _bundle_mpy(text):
    """(version, sub-version) from mpy-cross's "... emitting mpy v6.3", or None."""
    at = text.find("mpy v")
    parts = text[at + 5:].split(".") if at >= 0 else ()
    if len(parts) != 2 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return int(parts[0]), int(parts[1])


def _check_manifest(m, board):
    if not isinstance(m, dict) or parse_version(m.get("version")) is None or not isinstance(m.get("files"), list):
        raise OtaError("malformed manifest")
    if m.get("board") != board:
        raise OtaError("the bundle is for board %s, this is %s" % (m.get("board"), board))
    here = _mpy_version()
    if here is None:
        raise OtaError("this interpreter cannot load compiled (.mpy) bundles")
    wanted = _bundle_mpy(str(m.get("mpy", "")))
    if wanted is None or wanted[0] != here[0] or wanted[1] > here[1]:
        raise OtaError("the bundle is compiled for mpy %s; this MicroPython loads mpy v%d.%d"
                       % ("v%d.%d" % wanted if wanted else "?", here[0], here[1]))
    for f in m["files"]:
        if not isinstance(f, dict) or not _safe_path(f.get("path")) or not isinstance(f.get("size"), int) \
                or f["size"] < 0 or not isinstance(f.get("sha256"), str) or len(f["sha256"]) != 64:
            raise OtaError("malformed manifest entry %r" % (f,))


# -- HTTP/1.0 client ----------------------------------------------------------------


async def _open(url):
    """GET ``url``: (reader, writer, content length or -1) once the headers are in."""
    parsed = parse_http_url(url)
    if not parsed:
        raise OtaError("bad URL " + url)
    host, port, path = parsed
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT_S)
    except (OSError, asyncio.TimeoutError) as e:
        raise OtaError("server %s:%d unreachable (%s)" % (host, port, _why(e)))
    try:
        w.write(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path or "/", host)).encode())
        await w.drain()
        status = (await _readline(r)).split()
        if len(status) < 2 or status[1] != b"200":
            raise OtaError("%s: HTTP %s" % (url, status[1].decode() if len(status) > 1 else "no answer"))
        length = -1
        while True:
            line = await _readline(r)
            if line in (b"\r\n", b"\n", b""):
                return r, w, length
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
    except BaseException:
        await _close(w)
        raise


async def _readline(r):
    return await asyncio.wait_for(r.readline(), TIMEOUT_S)


async def _read(r, n):
    try:
        return await asyncio.wait_for(r.read(n), TIMEOUT_S)
    except asyncio.TimeoutError:
        raise OtaError("the server stopped sending")


async def _close(w):
    try:
        w.close()
        await w.wait_closed()
    except (OSError, AttributeError):
        pass


def _why(e):
    return "timeout" if isinstance(e, asyncio.TimeoutError) else repr(e)


async def fetch(url, limit):
    """The body of ``url``, at most ``limit`` bytes."""
    r, w, length = await _open(url)
    try:
        if length > limit:
            raise OtaError("%s: %d bytes, more than %d" % (url, length, limit))
        parts = []
        got = 0
        while True:
            chunk = await _read(r, CHUNK)
            if not chunk:
                break
            got += len(chunk)
            if got > limit:
                raise OtaError("%s: more than %d bytes" % (url, limit))
            parts.append(chunk)
        body = b"".join(parts)
        if 0 <= length != len(body):
            raise OtaError("%s: connection closed after %d of %d bytes" % (url, len(body), length))
        return body
    finally:
        await _close(w)


async def _download(url, out, size, sha256):
    """Stream ``url`` into ``out`` (anything with ``write``), checking its size and SHA-256."""
    r, w, length = await _open(url)
    h = hashlib.sha256()
    got = 0
    try:
        while got < size:
            chunk = await _read(r, min(CHUNK, size - got))
            if not chunk:
                break
            h.update(chunk)
            out.write(chunk)
            got += len(chunk)
    finally:
        await _close(w)
    if got != size or 0 <= length != size:
        raise OtaError("%s: got %d of %d bytes" % (url, got, size))
    if binascii.hexlify(h.digest()).decode() != sha256:
        raise OtaError("%s: SHA-256 mismatch" % url)


# -- the slots ------------------------------------------------------------------------


def slots():
    """(active slot, inactive slot) as slots.json says."""
    active = read_json(SLOTS_FILE).get("active")
    if active not in SLOTS:
        active = SLOTS[0]
    return active, SLOTS[1 - SLOTS.index(active)]


def _is_dir(path):
    try:
        return os.stat(path)[0] & 0x4000 != 0
    except OSError:
        return None  # missing


def remove_tree(path):
    kind = _is_dir(path)
    if kind is None:
        return
    if kind:
        for name in os.listdir(path):
            remove_tree(path + "/" + name)
        os.rmdir(path)
    else:
        os.remove(path)


def _clear(slot):
    """The slot emptied: its directory removed and, on a board with a romfs
    partition, its ROM image erased."""
    remove_tree(slot)
    part = romfs.segment()
    if part is not None:
        romfs.clear(part, SLOTS.index(slot))


def _makedirs(path):
    done = ""
    for part in path.split("/"):
        done = done + "/" + part if done else part
        if _is_dir(done) is None:
            os.mkdir(done)


def _free_bytes(path="."):
    """Free space on the flash, or None where the port cannot tell."""
    try:
        st = os.statvfs(path)
    except (AttributeError, OSError):
        return None
    return st[4] * st[1], st[1]  # available blocks x fragment (LittleFS: block) size


def _needed_bytes(files, block):
    """Conservative: every file rounded up to whole blocks, plus a block of
    metadata for each file and directory (LittleFS keeps small files inline,
    so real use is lower)."""
    dirs = {}
    total = 0
    for f in files:
        total += ((f["size"] + block - 1) // block + 1) * block
        dirs[f["path"].rpartition("/")[0]] = 1
    return total + (len(dirs) + 2) * 2 * block


# -- the actions --------------------------------------------------------------------


async def latest(charger, server):
    """The server's newest bundle for this board, verified: (manifest, its bytes, signature)."""
    key = load_key()
    if key is None:
        raise OtaError("No OTA public key installed (%s)" % KEY_FILE)
    board = charger.board["name"]
    raw = await fetch("%s/%s/manifest.json" % (server, board), MAX_MANIFEST)
    try:
        m = json.loads(raw)
        version = m["version"]
    except (ValueError, KeyError, TypeError):
        raise OtaError("the server's manifest for %s is not a manifest" % board)
    if parse_version(version) is None:
        raise OtaError("malformed manifest")
    sig = await fetch("%s/%s/%s/manifest.sig" % (server, board, version), MAX_SIGNATURE)
    if not verify(hashlib.sha256(raw).digest(), sig, key):
        raise OtaError("bad signature on the manifest of %s" % version)
    _check_manifest(m, board)
    return m, raw, sig


def _server(charger, server):
    url = server or charger.config["UpdateServer"]
    return parse_http_url(url) and url.rstrip("/")


async def check(charger, server=None):
    """UpdateCheckToggle: is there a newer version for this board?"""
    server = _server(charger, server)
    charger.ota_msg = "Checking %s for updates" % server
    m = (await latest(charger, server))[0]
    if parse_version(m["version"]) <= parse_version(VERSION):
        charger.ota_available = None
        charger.ota_msg = "Up to date: %s is the newest version for board %s" % (VERSION, m["board"])
    else:
        charger.ota_available = m["version"]
        charger.ota_msg = "Update available: %s (running %s)" % (m["version"], VERSION)
    return m


async def run(charger, server=None):
    """UpdateRunToggle (and ``evsectl ota push``): install the newest version and restart into it."""
    got = await download(charger, server)
    if got is not None:
        switch(charger, *got)
        charger.restart_soon()


async def download(charger, server=None):
    """The newest version written into the inactive slot, verified, not yet
    active: (version, that slot, the active slot), or None if the running
    version is the newest. Raises OtaError (the slot emptied again) on any
    failure. OCPP's UpdateFirmware (ocpp.firmware) calls this and ``switch``
    apart, to report each step."""
    if "previous" in read_json(SLOTS_FILE):  # the previous version is our way back: keep it
        raise OtaError("%s is still on trial; update once it has confirmed itself" % VERSION)
    m, raw, sig = await latest(charger, _server(charger, server))
    version = m["version"]
    if parse_version(version) <= parse_version(VERSION):
        charger.ota_available = None
        charger.ota_msg = "Up to date: %s is the newest version for board %s" % (VERSION, m["board"])
        return None
    active, target = slots()
    try:
        await _install(charger, _server(charger, server), m, raw, sig, target)
    except BaseException as e:
        _clear(target)  # nothing half-installed stays behind
        if isinstance(e, OSError) and e.args and e.args[0] == ENOSPC:
            raise OtaError("flash full while writing %s" % version)
        raise
    return version, target, active


def switch(charger, version, target, active):
    """Make the slot ``download`` filled active on trial (atomically): the
    next start runs it, and boot.py rolls back if it does not confirm itself."""
    write_atomic(SLOTS_FILE, json.dumps({"active": target, "previous": active, "version": version, "trial_boots": 0}))
    charger.ota_available = None
    charger.ota_msg = "Installed %s; restarting to try it" % version
    log.info("ota: %s installed in %s, restarting" % (version, target))


async def _install(charger, server, m, raw, sig, target):
    """Put the bundle ``m`` into the slot ``target``: its ROM image into the
    romfs partition if the board has one, else its files into the slot's
    directory."""
    version = m["version"]
    base = "%s/%s/%s/" % (server, m["board"], version)
    part = romfs.segment()
    if part is not None:
        await _install_rom(charger, base, m, part, SLOTS.index(target))
    else:
        await _install_files(charger, base, m, raw, sig, target)
    if charger.charging():  # the restart would end the session
        raise OtaError("a vehicle started charging")


async def _install_rom(charger, base, m, part, index):
    image = [f for f in m["files"] if f["path"] == ROM_IMAGE]
    if not image:
        raise OtaError("the bundle has no ROM image (%s); build it with a newer evsectl" % ROM_IMAGE)
    f = image[0]
    if f["size"] > romfs.SLOT_SIZE:
        raise OtaError("the ROM image of %s is %d bytes; a slot holds %d" % (m["version"], f["size"], romfs.SLOT_SIZE))
    if charger.charging():
        raise OtaError("a vehicle started charging")
    charger.ota_msg = "Downloading %s into ROM slot %d" % (m["version"], index)
    out = romfs.SlotWriter(part, index, f["size"])
    await _download(base + ROM_IMAGE, out, f["size"], f["sha256"])
    if binascii.hexlify(out.sha256()).decode() != f["sha256"]:
        raise OtaError("the ROM slot does not read back what was written")
    out.finish()


async def _install_files(charger, base, m, raw, sig, target):
    version = m["version"]
    files = [f for f in m["files"] if f["path"] not in ROOT_FILES and f["path"] != ROM_IMAGE]
    remove_tree(target)
    free = _free_bytes()
    if free is not None:
        need = _needed_bytes(files, free[1])
        if need > free[0]:
            raise OtaError("not enough flash for %s: needs %d bytes, %d free" % (version, need, free[0]))
    for i, f in enumerate(files):
        if charger.charging():
            raise OtaError("a vehicle started charging")
        charger.ota_msg = "Downloading %s: file %d of %d" % (version, i + 1, len(files))
        dest = target + "/" + f["path"]
        _makedirs(dest.rpartition("/")[0])
        with open(dest, "wb") as out:
            await _download(base + f["path"], out, f["size"], f["sha256"])
    with open(target + "/manifest.json", "wb") as out:
        out.write(raw)
    with open(target + "/manifest.sig", "wb") as out:
        out.write(sig)


async def perform(charger, action, server=None):
    """Run ``check`` or ``run`` (``action``) in the background; OTAMsg tells
    how it went. The caller has set ``charger.ota_busy``."""
    try:
        await (check if action == "check" else run)(charger, server)
    except Exception as e:  # MemoryError and OSError too: the running version carries on
        why = str(e) if isinstance(e, OtaError) else repr(e)
        if action == "check":
            charger.ota_msg = "Update check failed: " + why
        else:
            charger.ota_msg = "Update failed: %s; still running %s" % (why, VERSION)
        log.warn("ota: " + charger.ota_msg)
    finally:
        charger.ota_busy = False
        _unload()


def _unload():
    """Hand this module's heap back (some 10 KB) once an action is over: it
    is rarely needed again, and the next import loads it afresh."""
    import app

    sys.modules.pop(__name__, None)
    try:
        delattr(app, "ota")
    except AttributeError:
        pass


async def confirm(charger):
    """A version on trial: keep it once healthy, or restart so boot.py rolls it back."""
    try:
        await _confirm(charger)
    finally:
        _unload()


async def _confirm(charger):
    state = read_json(SLOTS_FILE)
    if state.get("version") != VERSION:
        return  # the loader did not start the trial (see boot.py): nothing to confirm
    health_s = SIM_HEALTH_S if charger.board["hal"] == "sim" else HEALTH_S
    charger.ota_msg = "Trying %s; confirming it is healthy" % VERSION
    ticks = charger.controller.ticks
    for _ in range(HEALTH_CHECKS):
        await asyncio.sleep(health_s)
        why = await _unhealthy(charger, ticks)
        if why is None:
            write_atomic(SLOTS_FILE, json.dumps({"active": state["active"]}))
            charger.ota_msg = "Updated to %s" % VERSION
            log.info("ota: %s confirmed healthy" % VERSION)
            return
        log.warn("ota: %s not healthy yet: %s" % (VERSION, why))
    charger.ota_msg = "%s did not come up healthy; restarting into the previous version" % VERSION
    log.error("ota: " + charger.ota_msg)
    charger.restart_soon()


async def _unhealthy(charger, ticks_before):
    """Why the running version is not healthy, or None."""
    if not charger.clock.virtual and charger.controller.ticks == ticks_before:
        return "the control loop is not ticking"
    port = charger.sim.get("port", 80)
    try:
        status = json.loads(await fetch("http://127.0.0.1:%d/webapi/v1/Status" % port, 4096))
    except (OtaError, ValueError) as e:
        return "its WebAPI does not answer: %s" % e
    if status.get("SystemVersion") != VERSION:
        return "its WebAPI reports version %s" % status.get("SystemVersion")
    return None
