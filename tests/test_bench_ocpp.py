"""`evsectl bench`'s OCPP figures (host/evsectl/bench_ocpp.py) are measured:
the 32-bit port with OCPP connected to the real central system, a
transaction running and both meters polled on the simulated RS485 bus.
What they are is printed by the bench, never asserted here; this holds that
each is measured, of the right kind, and consistent with the others."""

import shutil

import micropython32
from evsectl import bench, bench_ocpp


def test_the_ocpp_figures_are_measured(tmp_path):
    bus = bench._bus()
    try:
        f = bench_ocpp.measure(str(tmp_path), bus.port, micropython32.exe(), least=False)
    finally:
        bus.stop()
    assert isinstance(f["ocpp_heap_bytes_32"], int) and 0 < f["ocpp_heap_bytes_32"] < 256 * 1024
    assert isinstance(f["ocpp_fits_heap_budget_32"], bool)
    # Charging profiles: 8 of 24 periods cost heap and flash, and less than the rest of OCPP.
    smart = f["ocpp_smart_heap_bytes_32"]
    assert isinstance(smart, int) and 0 < smart < f["ocpp_heap_bytes_32"]
    assert 8 * 24 * 10 < f["ocpp_smart_flash_bytes"] < 16 * 1024
    # The journal drained what was queued offline: ~a sample a second and the Stop.
    assert f["ocpp_journal_drain_records"] >= bench_ocpp.OFFLINE_S // 2
    assert isinstance(f["ocpp_journal_drain_ms"], int) and f["ocpp_journal_drain_ms"] >= 0
    if shutil.which("strace"):
        per_sample, per_tx = f["ocpp_flash_bytes_per_sample"], f["ocpp_flash_bytes_per_transaction"]
        assert per_sample > 0 and per_tx > 0
        # An hour at the default 10 s: 360 samples (per_sample is rounded) and one transaction.
        assert abs(f["ocpp_flash_bytes_per_hour"] - (per_sample * 360 + per_tx)) <= 180
        assert f["ocpp_flash_other_bytes"] == 0  # charging and OCPP write nothing else to flash
