"""The cfos/ unit tests again, under the MicroPython unix port (64-bit) and the
32-bit one, whose small ints end at 2^30 as on an ESP32: each module run by
tests/mpy_runner.py in a fresh directory, where the charger keeps its files."""

import os

import pytest

from mpy_suite import PORTS, passes

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = ("test_cfos_registers.py", "test_cfos_ajax.py")


@pytest.mark.parametrize("port", PORTS)
@pytest.mark.parametrize("module", MODULES)
def test_module_passes_under_micropython(tmp_path, port, module):
    passes(port, os.path.join(HERE, module), tmp_path)
