"""CPython: firmware/, tests/charger/ (the Rig) and this folder importable
as on the device; each test runs in a fresh directory, where the charger
keeps its files (the MicroPython runs get one each from
test_cfos_micropython.py)."""

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_TESTS = os.path.dirname(_HERE)

for _path in (_HERE, os.path.join(_TESTS, "charger"), os.path.join(os.path.dirname(_TESTS), "firmware")):
    if _path not in sys.path:
        sys.path.insert(0, _path)


@pytest.fixture(autouse=True)
def _in_a_fresh_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
