"""``evsectl build``: the app bundle a board runs, as plain files plus a manifest.

    dist/evse-<version>-<board>/
        boot.py, main.py     the loaders, as source (run as scripts from the flash root)
        board.json           the board file
        version.mpy, evse/, hal/, app/, meters/
                             the firmware, compiled with mpy-cross
        lib/microdot/        the web framework, compiled
        web/index.html.gz    the charger's web page, minified and gzipped (evsectl.page)
        app.romfs            all of the above but the loaders, as one ROM image
                             (for boards with a romfs partition, see romfs.py)
        manifest.json        version, board, mpy-cross version, size and SHA-256 of every file

``evsectl deploy`` copies a bundle over USB and OTA serves one over the
network; ``evsectl ota sign`` adds ``manifest.sig``, a signature over the
exact bytes of manifest.json. The same sources and the same mpy-cross give
byte-identical bundles: every module is compiled under its bundle-relative
name (no temporary or absolute path reaches the bytecode) and the manifest
holds no timestamps.
"""

import ast
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import microdot

from evsectl import device, page, paths, romfs
from evsectl.errors import UserError

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
ROM_IMAGE = "app.romfs"  # as firmware/app/ota.py
# WebAPI SystemVersion: Major.Minor.Build
_VERSION_FORMAT = re.compile(r"\d+\.\d+\.\d+$")


def firmware_version():
    """VERSION from firmware/version.py, read without importing the firmware."""
    tree = ast.parse((paths.firmware_dir() / "version.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["VERSION"]:
            return ast.literal_eval(node.value)
    raise UserError("firmware/version.py has no VERSION")


def mpy_cross_version():
    """What ``mpy-cross --version`` says, e.g.
    "MicroPython v1.29.0 on 2026-08-29; mpy-cross emitting mpy v6.3"."""
    done = subprocess.run([device.mpy_cross_exe(), "--version"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def bundle_name(version, board):
    return "evse-%s-%s" % (version, board)


def build(board, out_dir, version=None):
    """Build the bundle for ``board`` into ``out_dir``; returns its directory.

    ``version`` (default: firmware/version.py) is what the bundle's
    version.mpy and manifest say. A previous bundle of the same name is
    replaced only once the new one is complete.
    """
    paths.board_file(board)  # an unknown board fails here, before any work
    version = version or firmware_version()
    if not _VERSION_FORMAT.match(version):
        raise UserError("version %r is not Major.Minor.Build, e.g. 0.2.0" % version)
    out_dir = Path(out_dir)
    dest = out_dir / bundle_name(version, board)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="." + dest.name + ".", dir=out_dir))
    except OSError as e:
        raise UserError("cannot write into %s (%s); choose another --out" % (out_dir, e.strerror))
    try:
        _write_files(work, board, version)
        write_manifest(work, version, board)
        shutil.rmtree(dest, ignore_errors=True)
        work.rename(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def _write_files(bundle, board, version):
    root = paths.firmware_dir()
    md = Path(microdot.__file__).parent
    sources = [(root / rel, rel.as_posix()) for rel in device.firmware_files()]
    sources += [(md / name, "lib/microdot/" + name) for name in device.MICRODOT_FILES]
    with tempfile.TemporaryDirectory() as scratch:
        for src, rel in sources:
            if rel in device.ENTRY_POINTS or not rel.endswith(".py"):
                _copy(src, bundle / rel)
                continue
            if rel == "version.py" and version != firmware_version():
                src = Path(scratch) / "version.py"
                src.write_text(_with_version((root / "version.py").read_text(), version))
            _compile(src, rel, bundle / (rel[: -len(".py")] + ".mpy"))
    page.write(bundle)  # the web page, minified and gzipped (evsectl.page)
    _copy(paths.board_file(board), bundle / "board.json")
    write_rom_image(bundle)


def write_rom_image(bundle):
    """The bundle's app (all but the loaders, the board file and the
    manifest) as one ROM image, for boards with a romfs partition."""
    outside = set(device.ENTRY_POINTS) | {"board.json", MANIFEST, SIGNATURE, ROM_IMAGE}
    (Path(bundle) / ROM_IMAGE).write_bytes(romfs.image_of(bundle, outside))


def _with_version(source, version):
    return re.sub(r"(?m)^VERSION = .*$", "VERSION = " + json.dumps(version), source)


def _copy(src, dst):
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _compile(src, rel, dst):
    dst.parent.mkdir(parents=True, exist_ok=True)
    # -s: the name tracebacks show, and the only path that reaches the bytes.
    done = subprocess.run([device.mpy_cross_exe(), "-s", rel, "-o", str(dst), str(src)],
                          capture_output=True, text=True)
    if done.returncode:
        raise UserError("mpy-cross failed on %s: %s" % (rel, " ".join(done.stderr.split())))


def file_entries(bundle):
    """Size and SHA-256 of every file of the bundle but the manifest and its signature."""
    bundle = Path(bundle)
    entries = []
    for path in bundle.rglob("*"):
        if not path.is_file():
            continue
        rel = path.relative_to(bundle).as_posix()
        if rel in (MANIFEST, SIGNATURE):
            continue
        data = path.read_bytes()
        entries.append({"path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    entries.sort(key=lambda e: e["path"])
    return entries


def write_manifest(bundle, version, board):
    manifest = {"version": version, "board": board, "mpy": mpy_cross_version(), "files": file_entries(bundle)}
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":")) + "\n"
    (Path(bundle) / MANIFEST).write_text(text)
    return manifest


def load_manifest(bundle_dir):
    path = Path(bundle_dir) / MANIFEST
    try:
        return json.loads(path.read_text())
    except OSError as e:
        raise UserError("%s is not a bundle (%s); make one with evsectl build" % (bundle_dir, e.strerror))
    except ValueError as e:
        raise UserError("%s is unreadable: %s; build the bundle again" % (path, e))


def add_parser(sub):
    b = sub.add_parser("build", help="compile the firmware into an app bundle with a manifest")
    b.add_argument("--board", default="esp32-devkit", help="board file (default esp32-devkit)")
    b.add_argument("--out", default="dist", help="where the bundle directory goes (default dist/)")
    b.add_argument("--app-version", help="the version the bundle reports (default: firmware/version.py)")
    b.set_defaults(func=_run)


def _run(args):
    bundle = build(args.board, args.out, args.app_version)
    files = load_manifest(bundle)["files"]
    print("evsectl build: %s (%d files, %d bytes)" % (bundle, len(files), sum(f["size"] for f in files)))
    return 0
