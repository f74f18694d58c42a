"""The control tick allocates nothing under MicroPython: a tour of every
EvseState, more than 10,000 ticks, with the heap locked."""

import json
import subprocess
from pathlib import Path

from evsectl import device, sim as simtool

TOUR = Path(simtool.__file__).with_name("tick_tour.py")


def run_tour(tmp_path, *args, interpreter="micropython"):
    dev = device.assemble(tmp_path / "dev", "sim")
    (dev / "tick_tour.py").write_bytes(TOUR.read_bytes())
    exe = simtool.micropython_exe() if interpreter == "micropython" else "python3"
    out = subprocess.run([exe, "tick_tour.py", *args], cwd=dev, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_ten_thousand_ticks_through_every_state_with_the_heap_locked(tmp_path):
    result = run_tour(tmp_path, "--heap-lock")
    assert result["heap_locked"] is True
    assert result["ticks"] >= 10000
    assert result["states"] == list(range(12))  # every EvseState met
    assert result["alloc_bytes_per_tick"] == 0


def test_the_same_tour_runs_under_cpython(tmp_path):
    result = run_tour(tmp_path, interpreter="cpython")
    assert result["states"] == list(range(12))
