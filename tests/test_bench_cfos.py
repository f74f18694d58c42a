"""`evsectl bench`'s cFos figures (host/evsectl/bench_cfos.py) are measured:
the 32-bit port, app in ROM, with a pymodbus client polling and writing and
a loopback Charging Manager answering the HTTP input. What they are is
printed by the bench, never asserted here; this holds that each is
measured, of the right kind, and consistent with the others."""

import micropython32
from evsectl import bench, bench_cfos


def test_the_cfos_figures_are_measured(tmp_path):
    bus = bench._bus()
    try:
        f = bench_cfos.measure(str(tmp_path), bus.port, micropython32.exe())
    finally:
        bus.stop()
    on, off = f["cfos_heap_bytes_32"], f["cfos_off_heap_bytes_32"]
    assert isinstance(on, int) and isinstance(off, int) and 0 < off < 256 * 1024 and 0 < on < 256 * 1024
    assert f["cfos_heap_cost_bytes_32"] == on - off
    assert isinstance(f["cfos_boot_heap_cost_bytes_32"], int) and f["cfos_boot_heap_cost_bytes_32"] > 0
    least, least_off = f["min_heapsize_kib_cfos_32"], f["min_heapsize_kib_cfos_off_32"]
    assert isinstance(least, int) and isinstance(least_off, int) and least_off <= least < 160
    for mode in ("modbus", "http"):  # each between none and both (a KiB either way: heaps differ run to run)
        assert least_off - 1 <= f["min_heapsize_kib_cfos_%s_32" % mode] <= least + 1
