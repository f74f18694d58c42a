"""Print the heap that Firmware Management takes on the 32-bit MicroPython
port with the app in ROM, as a board runs it (docs/ocpp.md quotes these):
the firmware (``evsectl sim --micropython micropython32 --romfs``, real
time) connected to the real central system, idle; then while a
GetDiagnostics upload runs (to a loopback HTTP server that holds its
answer back, so the upload stays open while it is measured); then while an
UpdateFirmware downloads a signed bundle (from ``evsectl ota serve``'s
server, each file served slowly).

The figure is the live heap: the heap size less the most free heap seen
in frequent polls of SystemInfo's HeapInfo over a window (the housekeeping
task collects every second, so the best poll is just after a collection).

    .venv/bin/python tests/ocpp/fw_heap_figures.py

About a minute (the bundle is built and compiled first).
"""

import http.server
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from evsectl import build, ota, romheap  # noqa: E402 (the path is set above)
from ota_support import SimProcess, make_bundle, update_server  # noqa: E402
from test_core_e2e import Central  # noqa: E402

MP32 = HERE.parents[2] / "shared" / "micropython32" / "micropython32"


def heap_total(sim):
    """The heap's size in all, from the boot line ("heap free F used U")."""
    words = sim.output().split("heap free ", 1)[1].split()
    return int(words[0]) + int(words[2])


def live_heap(sim, seconds):
    """Heap in use at its lowest over ``seconds`` (the heap less the most free
    seen), not counting the ROM image at its bottom (evsectl.romheap)."""
    best = 0
    client = sim.client
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        free = int(client.ok(client.get("/webapi/v1/SystemInfo"))["HeapInfo"].split("/")[1], 16)
        best = max(best, free)
        time.sleep(0.03)
    return heap_total(sim) - best - romheap.HEAP_BYTES


class SlowPut(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(4)  # the upload stays open meanwhile
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class SlowBundle(ota.BundleHandler):
    def do_GET(self):
        if self.path.endswith(build.ROM_IMAGE):
            time.sleep(4)  # the download stays open meanwhile (its manifest fetched and verified)
        super().do_GET()

    def log_message(self, *args):
        pass


def main():
    work = Path(tempfile.mkdtemp())
    keys = ota.keygen(work / "keys", bits=2048)
    built = build.build("sim", work / "built", version="0.2.0")
    make_bundle(built, work / "dist", "0.2.0", keys[0])
    cs = Central()
    dev = work / "dev"
    dev.mkdir()
    (dev / ota.PUBLIC_KEY).write_bytes(Path(keys[1]).read_bytes())
    (dev / "config.json").write_text(json.dumps(dict(OcppEndpoint="ws://127.0.0.1:%d/ocpp" % cs.port,
                                                     OcppBoxId="CP1", OcppSecurityProfile=0)))
    sim = SimProcess(dev, virtual_time=False,
                     extra=("--micropython", str(MP32), "--romfs", "--heapsize", "256k"))
    put = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowPut)
    threading.Thread(target=put.serve_forever, daemon=True).start()
    try:
        sim.start(60)
        c = sim.client
        cs.got("StatusNotification")
        idle = live_heap(sim, 3)
        cs.send({"call": "GetDiagnostics", "payload": {"location": "http://127.0.0.1:%d/d" % put.server_address[1]},
                 "ref": 1})
        cs.got("DiagnosticsStatusNotification")
        diagnostics = live_heap(sim, 3)
        cs.got("DiagnosticsStatusNotification", where=lambda p: p["status"] == "Uploaded")
        after_diagnostics = live_heap(sim, 2)
        with update_server(root=work / "dist", handler=SlowBundle) as server:
            cs.send({"call": "UpdateFirmware", "payload": {"location": server.url,
                                                           "retrieveDate": "2020-01-01T00:00:00Z"}, "ref": 2})
            cs.got("FirmwareStatusNotification", where=lambda p: p["status"] == "Downloading")
            time.sleep(0.5)
            firmware = live_heap(sim, 1.5)
            cs.got("FirmwareStatusNotification", where=lambda p: p["status"] == "Installing", timeout=120)
        print(json.dumps(dict(heap_idle_32=idle, heap_get_diagnostics_32=diagnostics,
                              heap_after_get_diagnostics_32=after_diagnostics, heap_update_firmware_32=firmware)))
    finally:
        sim.stop()
        cs.stop()
        put.shutdown()


if __name__ == "__main__":
    os.chdir(HERE)
    main()
