"""Where the firmware and board files this package ships live, and the
tools it runs.

Installed (``pip install .``) they are the packages ``evsectl.firmware`` and
``evsectl.boards``; in a source checkout they are ``firmware/`` and
``boards/`` at the top of the tree.
"""

import importlib.util
import json
import shutil
import sys
from pathlib import Path

from evsectl.errors import UserError

_SOURCE_TREE = Path(__file__).resolve().parents[2]


def _package_dir(name, fallback):
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if Path(location).is_dir():
                return Path(location)
    return _SOURCE_TREE / fallback


def source_tree():
    """The top of the source checkout this package runs from (an installed
    package: where it would be, two levels above the package)."""
    return _SOURCE_TREE


def firmware_dir():
    return _package_dir("evsectl.firmware", "firmware")


def boards_dir():
    return _package_dir("evsectl.boards", "boards")


def board_names():
    return sorted(p.stem for p in boards_dir().glob("*.json"))


def board_file(name):
    path = boards_dir() / (name + ".json")
    if not path.is_file():
        raise UserError("no board %r; known boards: %s" % (name, ", ".join(board_names())))
    return path


def board_hal(name):
    """Which adapter a board file asks for: "esp32" or "sim"."""
    return json.loads(board_file(name).read_text()).get("hal")


def tool(name, package):
    """The executable ``name`` from this environment, even when its bin/ is
    not on PATH, else from PATH; ``package`` is what to pip install."""
    near = Path(sys.executable).with_name(name)
    found = str(near) if near.exists() else shutil.which(name)
    if not found:
        raise UserError("%s is not installed (pip install %s)" % (name, package))
    return found
