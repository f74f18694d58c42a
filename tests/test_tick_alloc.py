"""The control tick (the kernel's step and the charger interface's,
charger.manager.EvseManager.step) allocates nothing under MicroPython, on the 64-bit unix
port and on the 32-bit one, whose small ints end at 2^30 like an ESP32's: a
tour of every EvseState, more than 10,000 ticks, with the heap locked, after
a fresh boot, days of uptime in, and across the millisecond ticks' wrap."""

import json
import subprocess
from pathlib import Path

import pytest

import micropython32
from evsectl import device, sim as simtool

TOUR = Path(simtool.__file__).with_name("tick_tour.py")


DAY_MS = 86400 * 1000
WRAP_MS = 1 << 30  # the kernel's ticks wrap here: 12.4 days

# (where the virtual clock starts): a fresh boot; past 6.2 days, where a
# difference of ticks once passed 2^30 on its way; 13 days in (uptime in ms
# past 2^30); 20 s before the ticks wrap, which the tour then crosses; and
# 124 days in, where the count of control ticks run passes 2^30 in the tour.
STARTS = {"fresh": 0, "6.3-days": 6 * DAY_MS + 7200000, "13-days": 13 * DAY_MS, "wrap": 3 * WRAP_MS - 20000,
          "124-days": (WRAP_MS - 5000) * 10}


def run_tour(tmp_path, *args, interpreter="micropython"):
    dev = device.assemble(tmp_path / "dev", "sim")
    (dev / "tick_tour.py").write_bytes(TOUR.read_bytes())
    exe = {"micropython": simtool.micropython_exe, "micropython32": micropython32.exe}.get(interpreter)
    exe = exe() if exe else "python3"
    out = subprocess.run([exe, "tick_tour.py", *args], cwd=dev, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("interpreter", ["micropython", "micropython32"])
@pytest.mark.parametrize("start", STARTS)
def test_ten_thousand_ticks_through_every_state_with_the_heap_locked(tmp_path, interpreter, start):
    result = run_tour(tmp_path, "--heap-lock", "--start-ms", str(STARTS[start]), interpreter=interpreter)
    assert result["heap_locked"] is True
    assert result["ticks"] >= 10000
    assert result["states"] == list(range(12))  # every EvseState met
    assert result["alloc_bytes_per_tick"] == 0


def test_the_same_tour_runs_under_cpython(tmp_path):
    result = run_tour(tmp_path, "--start-ms", str(STARTS["wrap"]), interpreter="cpython")
    assert result["states"] == list(range(12))
