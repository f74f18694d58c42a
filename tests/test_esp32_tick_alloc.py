"""The ESP32 adapter's control tick (hal/esp32.py read and write, the real
Kernel between them) allocates nothing on a 32-bit MicroPython: 10,000 ticks
with the heap locked, on a fake ``machine`` with an ESP32's values
(tests/esp32_tour.py), the microsecond counter crossing its 2^30 wrap and
kernel time fresh, days in, or at its own wrap."""

import json
import subprocess
from pathlib import Path

import pytest

import micropython32

TOUR = Path(__file__).with_name("esp32_tour.py")
DAY_MS = 86400 * 1000


@pytest.mark.parametrize("start_ms", [0, 7 * DAY_MS, (1 << 30) - 20000], ids=["fresh", "7-days", "ms-wrap"])
def test_ten_thousand_esp32_ticks_allocate_nothing_on_32_bit(start_ms):
    out = subprocess.run([micropython32.exe(), str(TOUR), "--start-ms", str(start_ms)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heap_locked"] is True and result["ticks"] >= 10000
    assert result["alloc_bytes_per_tick"] == 0
    assert result["ticks_us_wrapped"] is True  # read_uv's clock crossed 2^30 inside a CP burst's window
    assert result["relay_ticks"] > 0 and 5 in result["states"]  # it charged (EvseState 5)
    assert result["fed"] == result["ticks"]
