"""The kernel suite again, under the MicroPython unix port (one case per module).

Every other ``tests/kernel/test_*.py`` module is run by ``tests/mpy_runner.py``
under the ``micropython`` executable, so each claim of MicroPython
compatibility is tested, not assumed. Skipped when ``micropython`` is not on
PATH. (CPython-only modules are left out: this one and the hypothesis one.)
The same modules run on the 32-bit port too (tests/micropython32.py), whose
small ints end at 2^30 as on an ESP32; that one is never skipped.
"""

import glob
import os
import shutil
import subprocess

import pytest

import micropython32

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(os.path.dirname(HERE), "mpy_runner.py")
MICROPYTHON = shutil.which("micropython")

MODULES = sorted(
    os.path.basename(path)
    for path in glob.glob(os.path.join(HERE, "test_*.py"))
    if "hypothesis" not in os.path.basename(path) and os.path.basename(path) != os.path.basename(__file__)
)


@pytest.mark.skipif(MICROPYTHON is None, reason="micropython (unix port) not on PATH")
@pytest.mark.parametrize("module", MODULES)
def test_module_passes_under_micropython(module):
    _passes(MICROPYTHON, module)


@pytest.mark.parametrize("module", MODULES)
def test_module_passes_under_the_32_bit_micropython(module):
    _passes(micropython32.exe(), module)


def _passes(micropython, module):
    proc = subprocess.run(
        [micropython, "-X", "heapsize=4m", RUNNER, os.path.join(HERE, module)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = proc.stdout + proc.stderr
    last = report.strip().splitlines()[-1] if report.strip() else ""
    assert proc.returncode == 0, "%s %s: %s\n%s" % (micropython, module, last, report)
    assert " 0 failed" in last and "passed" in last, report
