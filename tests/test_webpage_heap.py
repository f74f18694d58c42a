"""Issue 17: the web page served to three browsers at once fits the 32-bit
heap budget of tests/test_heap_budget.py (the 32-bit port, the app in ROM,
-X heapsize=80k), each copy whole and correct, with a browser's request
headers; and the charger serves every endpoint after it.

``python -m evsectl.bench_page`` prints the figures (docs/webpage.md)."""

import micropython32
from evsectl import bench, bench_page, page


def test_three_browsers_fetch_the_page_at_once_within_the_32_bit_heap_budget(sim_factory):
    sim = sim_factory(extra=("--heapsize", bench_page.BUDGET, "--romfs", "--micropython", micropython32.exe()))
    expected = page.gzipped()
    for _ in range(10):
        got = bench_page.at_once(sim.port)
        assert [g == expected for g in got] == [True] * bench_page.BROWSERS, [len(g or b"") for g in got]
    c = sim.client
    heap = c.get("/webapi/v1/SystemInfo").json["HeapInfo"]
    low, now = (int(x, 16) for x in heap.split("/"))
    print("page %d bytes gzipped; 3 browsers at once, 10 times, at %s: heap free %d, lowest since boot %d"
          % (len(expected), bench_page.BUDGET, now, low))
    for name in bench.ENDPOINTS_GET:
        assert c.get("/webapi/v1/" + name).status == 200
    assert "MemoryError" not in sim.output()
