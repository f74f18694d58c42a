"""The kernel suite again, under the MicroPython unix port (one case per module).

Every other ``tests/kernel/test_*.py`` module is run by ``tests/mpy_runner.py``
under both MicroPython unix ports (tests/mpy_suite.py: the 64-bit one and
the 32-bit one, whose small ints end at 2^30 as on an ESP32), so each claim
of MicroPython compatibility is tested, not assumed. (CPython-only modules
are left out: this one and the hypothesis one.)
"""

import glob
import os

import pytest

from mpy_suite import PORTS, passes

HERE = os.path.dirname(os.path.abspath(__file__))

MODULES = sorted(
    os.path.basename(path)
    for path in glob.glob(os.path.join(HERE, "test_*.py"))
    if "hypothesis" not in os.path.basename(path) and os.path.basename(path) != os.path.basename(__file__)
)


@pytest.mark.parametrize("port", PORTS)
@pytest.mark.parametrize("module", MODULES)
def test_module_passes_under_micropython(port, module):
    passes(port, os.path.join(HERE, module))
