"""`evsectl bench`'s cFos figures (host/evsectl/bench_cfos.py) are measured:
the 32-bit port, app in ROM, with a pymodbus client polling and writing and
a loopback Charging Manager answering the HTTP input. What they are is
printed by the bench, never asserted here; this holds that each is
measured, of the right kind, and consistent with the others. (The least
heaps are bisected over ``works``, which is checked here at a roomy heap
and at one far too small: the bisection itself would take minutes.)"""

import micropython32
from evsectl import bench, bench_cfos


def test_the_cfos_heap_figures_are_measured(tmp_path):
    exe = micropython32.exe()
    bus = bench._bus()
    try:
        on = bench_cfos.heap_bytes(str(tmp_path), bus.port, exe, True)
        off = bench_cfos.heap_bytes(str(tmp_path), bus.port, exe, False)
    finally:
        bus.stop()
    assert isinstance(on, int) and isinstance(off, int) and 0 < off < on < 256 * 1024
    cost = bench_cfos.boot_cost(str(tmp_path), exe)
    assert isinstance(cost, int) and 0 < cost < on - off + 4096


def test_works_tells_a_charger_that_works_from_one_that_does_not(tmp_path):
    exe = micropython32.exe()
    for modes in (True, ("modbus",), ("http",), False):
        assert bench_cfos.works(str(tmp_path), exe, "160k", modes), modes
    assert not bench_cfos.works(str(tmp_path), exe, "60k", True)
