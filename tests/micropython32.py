"""The 32-bit MicroPython unix port (ELF32, 4-byte words, small ints up to
2^30 like the ESP32's), where CI lays it out: ``../shared/micropython32/``
beside the repository.

A test that needs it fails, never skips, when it cannot run: on a fresh
machine it needs the i386 C library, which .ci/run installs.
"""

import subprocess
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "shared" / "micropython32" / "micropython32"


def exe():
    """The binary's path, after checking that it runs and is 32-bit."""
    try:
        out = subprocess.run([str(PATH), "-c", "import sys; print(sys.maxsize)"], capture_output=True, text=True,
                             timeout=30)
    except OSError as e:
        pytest.fail("the 32-bit MicroPython %s cannot run (%s): is libc6-i386 installed? (.ci/run installs it)"
                    % (PATH, e))
    if out.returncode != 0 or out.stdout.strip() != str(2**31 - 1):
        pytest.fail("%s is not a working 32-bit MicroPython: %s" % (PATH, (out.stdout + out.stderr).strip()))
    return str(PATH)
