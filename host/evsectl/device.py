"""A device filesystem image, laid out as on the ESP32's flash::

    boot.py, main.py   the loaders (source): outputs safe, pick the slot, run
    board.json         the board file
    slots.json         {"active": "slot_a"}: which app slot runs
    slot_a/, slot_b/   app slots: packages, version, lib/microdot, web/index.html.gz
    romfs.bin          or the slots as ROM images in the romfs partition
    config.json        the firmware's settings (written by the firmware)

OTA installs a new version into the inactive slot and switches slots.json;
see firmware/boot.py.
"""

import json
import shutil
import subprocess
from pathlib import Path

import microdot

from evsectl import page, paths, romfs

# The parts of microdot the firmware uses (the rest would only cost flash).
MICRODOT_FILES = ("__init__.py", "microdot.py")
# Run as scripts by the interpreter from the flash root, so they stay source.
ENTRY_POINTS = ("boot.py", "main.py")
SLOTS = ("slot_a", "slot_b")
ROM_PARTITION = "romfs.bin"  # the simulated board's romfs flash partition
# What older device directories kept at the top, before the app moved into slots.
_OLD_LAYOUT = ("evse", "hal", "app", "meters", "lib")


def firmware_files():
    """Every firmware file, relative to the firmware directory, sorted: the
    Python sources and the data files the app reads (app/openapi.json)."""
    root = paths.firmware_dir()
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".json")
                  and "__pycache__" not in p.parts)


def assemble(dest, board, precompile=False, rom=False):
    """Write the device image for ``board`` into ``dest``, the app in slot_a.

    Keeps config.json (and whatever else the firmware wrote, such as the
    simulator's sim.json); slot_b and any trial state are cleared, as a
    fresh deploy would. With ``precompile`` every module but the loaders is
    compiled with mpy-cross, as shipped to a real board. With ``rom`` slot_a
    is a ROM image of those compiled modules instead, in ``romfs.bin``: the
    board's romfs partition (evsectl.romfs), the rest of it erased.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for sub in SLOTS + _OLD_LAYOUT:
        shutil.rmtree(dest / sub, ignore_errors=True)
    for stale in list(dest.glob("*.mpy")) + [dest / ROM_PARTITION]:
        stale.unlink(missing_ok=True)
    root = paths.firmware_dir()
    slot = dest / SLOTS[0]
    sources = [(root / rel, (dest if rel.name in ENTRY_POINTS and len(rel.parts) == 1 else slot) / rel)
               for rel in firmware_files()]
    md = Path(microdot.__file__).parent
    sources += [(md / name, slot / "lib" / "microdot" / name) for name in MICRODOT_FILES]
    for src, dst in sources:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if (precompile or rom) and dst.parent != dest and src.suffix == ".py":
            compile_mpy(src, dst.with_suffix(".mpy"))
        else:
            shutil.copyfile(src, dst)
    page.write(slot)  # the web page, minified and gzipped (evsectl.page)
    if rom:
        (dest / ROM_PARTITION).write_bytes(romfs.partition(romfs.image_of(slot)))
        shutil.rmtree(slot)
    shutil.copyfile(paths.board_file(board), dest / "board.json")
    (dest / "slots.json").write_text(json.dumps({"active": SLOTS[0]}))
    return dest


def mpy_cross_exe():
    return paths.tool("mpy-cross", "mpy-cross")


def compile_mpy(src, dst):
    subprocess.run([mpy_cross_exe(), "-o", str(dst), str(src)], check=True)
