"""What serving the web page costs the heap, on the 32-bit port with the app in ROM.

    python -m evsectl.bench_page [--micropython PATH]     # prints JSON

    page_gzipped_bytes          the page as stored and sent (evsectl.page)
    min_heapsize_kib_32         smallest -X heapsize at which the simulator boots
                                and serves every endpoint (as evsectl bench)
    page_min_heapsize_kib_32    the same, and then the page to 3 browsers at once,
                                each copy whole and correct, 5 times over
    page_heap_kib_32            the difference: what the page costs at its peak
                                (app.webpage loaded, 3 connections streaming)
    heap_free_serving_32        HeapInfo at the budget (80k): lowest free since
                                boot and free now, after 3-at-once fetches

The ROM image lies in the heap of the 32-bit binary (evsectl.romheap); the
figures are what the app has of it, as on a board whose ROM is in flash.
"""

import argparse
import http.client
import json
import tempfile
import threading

from evsectl import bench, page, romheap

BROWSERS = 3
ROUNDS = 5
BUDGET = "80k"  # tests/test_heap_budget.py


# What Chromium sends with a page load: the request's headers take heap too.
BROWSER_HEADERS = {
    "Connection": "keep-alive",
    "Upgrade-Insecure-Requests": "1",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8",
    "Accept-Encoding": "gzip, deflate",
    "Accept-Language": "en-US,en;q=0.9",
}


def fetch_page(port):
    """The page's bytes as one browser gets them, or None if the answer was
    not a whole 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/", headers=BROWSER_HEADERS)
        r = conn.getresponse()
        data = r.read()
        return data if r.status == 200 and len(data) == int(r.getheader("Content-Length")) else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def at_once(port, n=BROWSERS):
    """Fetch the page ``n`` times at once (threads released together); the answers."""
    got = [None] * n
    start = threading.Barrier(n)

    def one(i):
        start.wait()
        got[i] = fetch_page(port)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


def serves_page(port, rounds=ROUNDS):
    expected = page.gzipped()
    return all(got == expected for _ in range(rounds) for got in at_once(port))


def page_min_heapsize_kib(workdir, micropython, low=40, high=128):
    """Bisect the smallest heap at which the firmware boots, serves every
    endpoint, then the page to 3 browsers at once, and still every endpoint."""

    def works(kib):
        s = bench._Sim(workdir, heapsize="%dk" % kib, micropython=micropython, name="page")
        try:
            return s.serves_everything() and serves_page(s.port) and s.serves_everything()
        finally:
            s.close()

    return romheap.least_kib(works, low, high)


def heap_info_serving(workdir, micropython):
    """SystemInfo's HeapInfo (lowest free since boot, free now, bytes) after the
    page went to 3 browsers at once, at the budget."""
    s = bench._Sim(workdir, heapsize=BUDGET, micropython=micropython, name="pageinfo")
    try:
        ok = serves_page(s.port)
        info = s.request("GET", "/webapi/v1/SystemInfo", answer=True)[1]["HeapInfo"]
        low, now = (int(x, 16) for x in info.split("/"))
        return {"served": ok, "lowest_free": low, "free_now": now}
    finally:
        s.close()


def measure(micropython):
    with tempfile.TemporaryDirectory() as work:
        base = bench.min_heapsize_kib(work, low=40, high=128, micropython=micropython)
        with_page = page_min_heapsize_kib(work, micropython)
        return {
            "page_gzipped_bytes": len(page.gzipped()),
            "min_heapsize_kib_32": base,
            "page_min_heapsize_kib_32": with_page,
            "page_heap_kib_32": with_page - base if base and with_page else None,
            "heap_free_serving_32": heap_info_serving(work, micropython),
        }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--micropython", default=bench.MICROPYTHON32, help="the 32-bit MicroPython binary")
    args = p.parse_args()
    print(json.dumps(measure(args.micropython), indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
