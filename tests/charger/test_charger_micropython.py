"""The charger/ suite again, under the MicroPython unix port (64-bit) and the
32-bit one, whose small ints end at 2^30 as on an ESP32: each module run by
tests/mpy_runner.py in a fresh directory, where the charger keeps its
files. There the tests that lock the heap do lock it."""

import os

import pytest

from mpy_suite import PORTS, passes

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = ("test_charger_events.py", "test_charger_limits.py", "test_charger_manager.py", "test_charger_external.py")


@pytest.mark.parametrize("port", PORTS)
@pytest.mark.parametrize("module", MODULES)
def test_module_passes_under_micropython(tmp_path, port, module):
    passes(port, os.path.join(HERE, module), tmp_path)
