"""``evsectl deploy``: the app onto a board that runs MicroPython, over USB.

    evsectl deploy --port /dev/ttyUSB0 [--board esp32-devkit] [--bundle DIR]
                   [--wifi SSID:PASSWORD] [--admin-password PASSWORD] [--ota-key FILE]

What it leaves on the board's flash (the layout the loaders and OTA share)::

    /boot.py, /main.py   the loaders
    /board.json          the board file
    /slots.json          {"active": "slot_a"}
    /slot_a/             the rest of the bundle: packages, lib/microdot, version, manifest
    /config.json         settings, touched only with --wifi or --admin-password
    /ota_pubkey.json     the key OTA updates are checked with, only with --ota-key

On a board with a romfs partition (``evsectl flash`` makes one) slot_a is
the bundle's ROM image (``app.romfs``) in the partition's first half
instead, written header last and read back (SHA-256), and the slot
directories are removed.

It talks to the board with mpremote's serial transport: the raw REPL, after
the soft reset that stops a running app (boot.py then makes the outputs
safe). Only what differs is copied: the board hashes its files (SHA-256) and
deploy compares them with the bundle (built on the fly unless ``--bundle``
names one). Files of slot_a the bundle does not have are removed, and so is
slot_b with any OTA trial state: afterwards the board runs exactly this
bundle. Every file is written as ``<name>.tmp`` and renamed, so an
interrupted deploy leaves old or new files, never torn ones; run it again.
Nothing else on the flash is touched.

Settings go through the firmware's own ConfigStore (firmware/app/config.py
runs under CPython too): it validates them before anything is written,
merges them into the board's config.json, keeps everything else the owner
stored, and stores the admin password only as its salted hash. Last, the
board is reset (``machine.reset()``, as ``mpremote reset``) and starts the app.
"""

import base64
import contextlib
import hashlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

from evsectl import build, paths, romfs
from evsectl.errors import UserError
from evsectl.ota import PUBLIC_KEY

SLOT = "slot_a"
OTHER_SLOT = "slot_b"
ROOT_FILES = ("boot.py", "main.py", "board.json")
SLOTS_JSON = json.dumps({"active": SLOT}).encode()  # as device.assemble writes it
CONFIG = "config.json"
RESET = "import time, machine; time.sleep_ms(100); machine.reset()"  # mpremote's "reset"

# Runs on the board: SHA-256 of every file deploy manages, and their directories.
_SCAN = """
import os, hashlib, binascii, json
def _walk(d, names, out):
    for e in os.ilistdir(d or '/'):
        p = d + '/' + e[0]
        if names and e[0] not in names:
            continue
        if e[1] & 0x4000:
            out['dirs'].append(p[1:])
            _walk(p, None, out)
        else:
            h = hashlib.sha256()
            with open(p, 'rb') as f:
                while True:
                    b = f.read(512)
                    if not b:
                        break
                    h.update(b)
            out['files'][p[1:]] = binascii.hexlify(h.digest()).decode()
_out = {'files': {}, 'dirs': []}
_walk('', %r, _out)
print(json.dumps(_out))
"""

# Runs on the board: the romfs partition (as boot.py finds it) and how to write it.
_ROM = """
import vfs, binascii, hashlib
def _rom_segment():
    if hasattr(vfs, 'rom_ioctl'):
        return vfs.rom_ioctl(2, 0) if vfs.rom_ioctl(1) > 0 else None
    import os, uctypes
    w = os.getenv('EVSE_ROMFS')
    if not w:
        return None
    a, n = w.split(':')
    return uctypes.bytearray_at(int(a), int(n))
_part = _rom_segment()
def _rom_size():
    print(0 if _part is None else len(memoryview(_part)))
def _rom_hash(n):
    h = hashlib.sha256()
    for a in range(0, n, 4096):
        h.update(memoryview(_part)[a:min(a + 4096, n)])
    print(binascii.hexlify(h.digest()).decode())
def _rom_begin(n):
    try:
        vfs.umount('/rom')
    except OSError:
        pass
    if hasattr(vfs, 'rom_ioctl'):
        vfs.rom_ioctl(3, 0, n)
    else:
        for a in range(0, n, 4096):
            _part[a:min(a + 4096, n)] = b'\\xff' * (min(a + 4096, n) - a)
def _rom_put(a, b64):
    b = binascii.a2b_base64(b64)
    if hasattr(vfs, 'rom_ioctl'):
        vfs.rom_ioctl(4, 0, a, b)
    else:
        _part[a:a + len(b)] = b
def _rom_end():
    if hasattr(vfs, 'rom_ioctl'):
        vfs.rom_ioctl(5, 0)
"""
ROM_CHUNK = 2048
ROM_HEADER = 16  # written last: an interrupted deploy leaves an image boot.py does not mount


class DeployError(UserError):
    """Something the owner can fix; said in one line."""


def settings_from_options(wifi=None, admin_password=None):
    """SystemConfig changes for ``--wifi SSID:PASSWORD`` and ``--admin-password``."""
    changes = {}
    if wifi is not None:
        ssid, colon, password = wifi.partition(":")
        if not colon:
            raise DeployError("--wifi takes SSID:PASSWORD (an empty PASSWORD for an open network)")
        changes["WiFiSSID"] = ssid
        changes["WiFiPassword"] = password
    if admin_password is not None:
        changes["AdminPassword"] = admin_password
    return changes


def merge_config(current, changes):
    """The config.json the firmware would write after taking ``changes`` on
    top of ``current`` (the board's config.json text, or None)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / CONFIG
        if current is not None:
            path.write_text(current)
        with contextlib.redirect_stdout(io.StringIO()):  # the store's log lines are for the board's console
            store = _config_store()(str(path))
            if _holds(store["AdminPasswordHash"], changes.get("AdminPassword")):
                # Set again, it would get a new salt: config.json rewritten at every deploy.
                changes = {k: v for k, v in changes.items() if k != "AdminPassword"}
            errors = store.update(changes)
        if errors:
            raise DeployError("; ".join("%s %s" % item for item in sorted(errors.items())))
        return path.read_text()


def _config_store():
    _firmware_on_path()
    from app.config import ConfigStore

    return ConfigStore


def _holds(stored, password):
    """Whether ``stored`` is ``password``'s hash in the current format (app.password)."""
    if not (stored and password):
        return False
    _firmware_on_path()
    from app import password as admin_password

    return stored.startswith(admin_password.SCHEME + "$") and admin_password.check(password, stored)


def _firmware_on_path():
    firmware = str(paths.firmware_dir())
    if firmware not in sys.path:
        sys.path.insert(0, firmware)


def read_ota_key(path):
    """The bytes of a public key file from ``evsectl ota keygen``, checked."""
    try:
        data = Path(path).read_bytes()
        key = json.loads(data)
        int(key["n"], 16), int(key["e"])
    except OSError as e:
        raise DeployError("cannot read %s: %s" % (path, e.strerror))
    except (ValueError, TypeError, KeyError):
        raise DeployError("%s is not an OTA public key (%s, from evsectl ota keygen)" % (path, PUBLIC_KEY))
    return data


def bundle_files(bundle, board):
    """{path on the board: bytes} for a bundle, checked against its manifest."""
    bundle = Path(bundle)
    manifest = build.load_manifest(bundle)
    if manifest.get("board") != board:
        raise DeployError("%s is built for board %r, not %r" % (bundle, manifest.get("board"), board))
    listed = [(e["path"], e["sha256"]) for e in manifest["files"]]
    if listed != [(e["path"], e["sha256"]) for e in build.file_entries(bundle)]:
        raise DeployError("%s does not match its manifest; build it again" % bundle)
    files = {}
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        rel = path.relative_to(bundle).as_posix()
        if rel == build.ROM_IMAGE:  # the same files again, for a romfs partition
            continue
        files[rel if rel in ROOT_FILES else SLOT + "/" + rel] = path.read_bytes()
    files["slots.json"] = SLOTS_JSON
    return files


def plan(wanted, on_board):
    """What to write, remove and create so the board holds ``wanted``.

    ``on_board`` is the scan: {"files": {path: sha256}, "dirs": [path]}.
    """
    have = on_board["files"]
    write = [p for p in sorted(wanted) if have.get(p) != hashlib.sha256(wanted[p]).hexdigest()]
    keep_dirs = {"/".join(p.split("/")[:i]) for p in wanted for i in range(1, p.count("/") + 1)}
    ours = (SLOT + "/", OTHER_SLOT + "/")
    remove = [p for p in sorted(have) if p.startswith(ours) and p not in wanted]
    rmdirs = sorted((d for d in on_board["dirs"] if d not in keep_dirs), key=lambda d: -d.count("/"))
    mkdirs = sorted(d for d in keep_dirs if d not in on_board["dirs"])
    return {"write": write, "remove": remove, "rmdirs": rmdirs, "mkdirs": mkdirs}


def deploy(port, board, bundle=None, settings=None, ota_key=None, out=sys.stdout):
    """Bring the board on ``port`` to ``bundle`` (default: built now) and reset it.

    Returns {"written": [paths], "removed": [paths], "version": ...}.
    """
    settings = settings or {}
    merge_config(None, settings)  # bad settings fail here, before the board is touched
    paths.board_file(board)
    key = read_ota_key(ota_key) if ota_key else None
    if port.startswith("/dev/") and not os.path.exists(port):
        raise DeployError("no serial port %s (is the board plugged in?)" % port)
    with tempfile.TemporaryDirectory() as scratch:
        bundle = bundle or build.build(board, scratch)
        wanted = bundle_files(bundle, board)
        version = build.load_manifest(bundle)["version"]
        image = (Path(bundle) / build.ROM_IMAGE).read_bytes()
    if key:
        wanted[PUBLIC_KEY] = key
    link = _connect(port)
    try:
        link.exec(_ROM)
        rom = int(link.exec("_rom_size()")) >= romfs.PARTITION_SIZE
        if rom:  # the app goes into ROM slot A; the slot directories go
            wanted = {p: data for p, data in wanted.items() if not p.startswith(SLOT + "/")}
        on_board = json.loads(link.exec(_SCAN % ((SLOT, OTHER_SLOT, "slots.json", PUBLIC_KEY) + ROOT_FILES,)))
        if settings:
            current = _read(link, CONFIG)
            merged = merge_config(current, settings)
            if current is None or json.loads(current) != json.loads(merged):
                wanted[CONFIG] = merged.encode()
        todo = plan(wanted, on_board)
        written = []
        if rom and link.exec("_rom_hash(%d)" % len(image)).decode().strip() != hashlib.sha256(image).hexdigest():
            written.append("romfs:" + SLOT)
            print("  %-40s %7d bytes" % (written[0], len(image)), file=out, flush=True)
            _write_rom(link, image)
        for d in todo["mkdirs"]:
            link.fs_mkdir("/" + d)
        # slots.json last: it names a slot that is complete by then.
        for path in sorted(todo["write"], key=lambda p: p == "slots.json"):
            print("  %-40s %7d bytes" % (path, len(wanted[path])), file=out, flush=True)
            _write(link, path, wanted[path])
        for path in todo["remove"]:
            print("  %-40s removed" % path, file=out, flush=True)
            link.fs_rmfile("/" + path)
        for d in todo["rmdirs"]:
            link.fs_rmdir("/" + d)
        link.exec_raw_no_follow(RESET)
    finally:
        link.close()
    return {"written": written + todo["write"], "removed": todo["remove"], "version": version}


def _connect(port):
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    try:
        link = SerialTransport(port)
    except TransportError:
        raise DeployError("cannot open %s (is the board plugged in, and no other program using the port?)" % port)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # mpremote prints what it got on failure
            link.enter_raw_repl(soft_reset=True)
    except TransportError:
        link.close()
        raise DeployError("no MicroPython REPL answers on %s (flash MicroPython first: evsectl flash)" % port)
    return link


def _write_rom(link, image):
    """``image`` into ROM slot A, its header last; read back before the board resets."""
    link.exec("_rom_begin(%d)" % len(image))
    for at in list(range(ROM_HEADER, len(image), ROM_CHUNK)) + [0]:
        end = min(at + ROM_CHUNK, len(image)) if at else ROM_HEADER
        link.exec("_rom_put(%d, %r)" % (at, base64.b64encode(image[at:end]).decode()))
    link.exec("_rom_end()")
    if link.exec("_rom_hash(%d)" % len(image)).decode().strip() != hashlib.sha256(image).hexdigest():
        raise DeployError("the board's romfs partition does not read back what was written; deploy again")


def _read(link, path):
    try:
        return bytes(link.fs_readfile("/" + path)).decode()
    except OSError:
        return None


def _write(link, path, data):
    link.fs_writefile("/" + path + ".tmp", data)
    link.exec("import os\nos.rename(%r, %r)" % ("/" + path + ".tmp", "/" + path))


def add_parser(sub):
    d = sub.add_parser("deploy", help="copy the app, board file and settings to a MicroPython board (mpremote)")
    d.add_argument("--port", required=True, help="serial port of the board, e.g. /dev/ttyUSB0")
    d.add_argument("--board", default="esp32-devkit", help="board file (default esp32-devkit)")
    d.add_argument("--bundle", metavar="DIR", help="a bundle from evsectl build (default: build one now)")
    d.add_argument("--wifi", metavar="SSID:PASSWORD", help="the network the charger joins")
    d.add_argument("--admin-password", metavar="PASSWORD", help="password every POST to the WebAPI then needs (user admin)")
    d.add_argument("--ota-key", metavar="FILE", help="%s from evsectl ota keygen: the key updates are checked with"
                   % PUBLIC_KEY)
    d.set_defaults(func=_run)


def _run(args):
    from mpremote.transport import TransportError

    try:
        settings = settings_from_options(args.wifi, args.admin_password)
        done = deploy(args.port, args.board, args.bundle, settings, args.ota_key)
    except (TransportError, OSError) as e:
        # An error raised on the board arrives as its traceback: the last line says it.
        raise DeployError(str(e).strip().splitlines()[-1])
    print("evsectl deploy: evse %s (%s) on %s: %s copied, %s removed; the board restarts"
          % (done["version"], args.board, args.port, _files(done["written"]), _files(done["removed"])))
    return 0


def _files(paths):
    return "1 file" if len(paths) == 1 else "%d files" % len(paths)
