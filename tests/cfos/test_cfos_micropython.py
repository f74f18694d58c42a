"""The cfos/ unit tests again, under the MicroPython unix port (64-bit) and the
32-bit one, whose small ints end at 2^30 as on an ESP32: each module run by
tests/mpy_runner.py in a fresh directory, where the charger keeps its files."""

import os
import subprocess

import pytest

import micropython32
from evsectl import sim as simtool

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(os.path.dirname(HERE), "mpy_runner.py")
MODULES = ("test_cfos_registers.py", "test_cfos_ajax.py")


@pytest.mark.parametrize("port", ["64-bit", "32-bit"])
@pytest.mark.parametrize("module", MODULES)
def test_module_passes_under_micropython(tmp_path, port, module):
    exe = micropython32.exe() if port == "32-bit" else simtool.micropython_exe()
    proc = subprocess.run([exe, "-X", "heapsize=4m", RUNNER, os.path.join(HERE, module)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    report = proc.stdout + proc.stderr
    last = report.strip().splitlines()[-1] if report.strip() else ""
    assert proc.returncode == 0, "%s %s: %s\n%s" % (exe, module, last, report)
    assert " 0 failed" in last and "passed" in last, report
    assert "FAIL" not in report
