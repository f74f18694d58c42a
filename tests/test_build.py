"""``evsectl build``: the bundle is complete, described exactly by its manifest,
reproducible byte for byte, and runs on the MicroPython it was compiled for."""

import hashlib
import json
import re
import subprocess
import sys

import pytest

from evsectl import build, device, paths, romfs, sim


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return build.build("sim", tmp_path_factory.mktemp("dist"))


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_bundle_holds_loaders_as_source_every_other_module_compiled_and_the_data_files(bundle):
    assert bundle.name == "evse-%s-sim" % build.firmware_version()
    names = set(tree(bundle))
    expected = {"boot.py", "main.py", "board.json", "manifest.json", "app.romfs",
                "lib/microdot/__init__.mpy", "lib/microdot/microdot.mpy",
                "web/index.html.gz"}  # the web page, built (evsectl.page)
    for rel in device.firmware_files():
        if rel.suffix != ".py":
            expected.add(rel.as_posix())  # data the app reads, as it is
        elif rel.as_posix() not in ("boot.py", "main.py"):
            expected.add(rel.with_suffix(".mpy").as_posix())
    assert names == expected
    assert {"evse/kernel.mpy", "app/runtime.mpy", "version.mpy", "app/openapi.json"} <= names
    firmware = paths.firmware_dir()
    assert (bundle / "boot.py").read_bytes() == (firmware / "boot.py").read_bytes()
    assert (bundle / "board.json").read_bytes() == paths.board_file("sim").read_bytes()


# Runs under MicroPython: every file of a ROM image, by walking the mounted image.
_WALK_ROM = """
import vfs, os, json, hashlib, binascii
with open(%r, "rb") as f:
    vfs.mount(vfs.VfsRom(f.read()), "/image")
out = {}
def walk(d):
    for name, kind, *_ in os.ilistdir(d):
        p = d + "/" + name
        if kind & 0x4000:
            walk(p)
        else:
            with open(p, "rb") as f:
                out[p[len("/image/"):]] = binascii.hexlify(hashlib.sha256(f.read()).digest()).decode()
walk("/image")
print(json.dumps(out))
"""


def test_rom_image_holds_the_app_as_micropython_mounts_it(bundle):
    files = tree(bundle)
    app = {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()
           if rel not in ("boot.py", "main.py", "board.json", "manifest.json", "app.romfs")}
    out = subprocess.run([sim.micropython_exe(), "-c", _WALK_ROM % str(bundle / "app.romfs")],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == app
    assert len(files["app.romfs"]) <= romfs.SLOT_SIZE


def test_manifest_lists_every_file_with_its_size_and_hash(bundle):
    text = (bundle / "manifest.json").read_text()
    manifest = json.loads(text)
    assert text == json.dumps(manifest, sort_keys=True, separators=(",", ":")) + "\n"
    assert manifest == build.load_manifest(bundle)
    assert manifest["version"] == build.firmware_version()
    assert manifest["board"] == "sim"
    assert manifest["mpy"] == build.mpy_cross_version()
    files = tree(bundle)
    del files["manifest.json"]
    listed = [e["path"] for e in manifest["files"]]
    assert listed == sorted(files)
    for entry in manifest["files"]:
        data = files[entry["path"]]
        assert entry == {"path": entry["path"], "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_same_sources_give_identical_bytes_and_no_path_leaks(bundle, tmp_path):
    again = build.build("sim", tmp_path / "elsewhere")
    assert tree(again) == tree(bundle)
    for name, data in tree(bundle).items():
        assert str(tmp_path).encode() not in data and b"/firmware/" not in data, name


def test_compiled_modules_load_under_the_micropython_they_target(bundle):
    """The unix port runs the bundle's bytecode, and reports the mpy version
    mpy-cross emitted (sys.implementation._mpy: low byte version, bits 8-9 sub-version)."""
    code = ("import sys; sys.path[:0] = ['lib']; from evse import kernel; import microdot, version; "
            "m = sys.implementation._mpy; print(kernel.__file__, version.VERSION, m & 0xff, m >> 8 & 3)")
    done = subprocess.run([sim.micropython_exe(), "-c", code], cwd=bundle, capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    source, version, mpy_major, mpy_minor = done.stdout.split()
    assert source.endswith("evse/kernel.mpy") and version == build.firmware_version()
    emitted = re.search(r"mpy v(\d+)\.(\d+)", build.load_manifest(bundle)["mpy"])
    assert emitted and emitted.groups() == (mpy_major, mpy_minor)


def test_a_given_version_is_what_the_bundle_reports(tmp_path):
    out = build.build("sim", tmp_path, version="9.8.7")
    assert out.name == "evse-9.8.7-sim"
    assert build.load_manifest(out)["version"] == "9.8.7"
    done = subprocess.run([sim.micropython_exe(), "-c", "import version; print(version.VERSION)"],
                          cwd=out, capture_output=True, text=True, timeout=10)
    assert done.stdout.strip() == "9.8.7"


def test_command_line_builds_into_dist_by_default(tmp_path):
    done = subprocess.run([sys.executable, "-m", "evsectl", "build", "--board", "esp32-devkit"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "dist" / ("evse-%s-esp32-devkit" % build.firmware_version())
    assert str(out.relative_to(tmp_path)) in done.stdout
    assert build.load_manifest(out)["board"] == "esp32-devkit"


@pytest.mark.parametrize("args, message", [
    (["--board", "nosuchboard"], "nosuchboard"),
    (["--app-version", "1.2"], "not Major.Minor.Build"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, args, message):
    done = subprocess.run([sys.executable, "-m", "evsectl", "build", "--out", str(tmp_path / "dist"), *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())
