"""design.md's budget for "everything on", on the 32-bit port with the app in
ROM: both meters polled on the RS485 bus, OCPP connected to a real central
system (the ``ocpp`` package over ``websockets``) with a transaction
running and sampled every second, and every WebAPI endpoint served, whole,
with no MemoryError. The charger does all of that within
EVERYTHING_ON_HEAPSIZE_32; ``evsectl bench`` prints the least heap it needs
(min_heapsize_kib_ocpp_32) and whether it fits design.md's 80 KiB
(ocpp_fits_heap_budget_32). This test holds the line.

It is not 80 KiB yet: the least is 112 to 113 KiB (it varies by a KiB
from run to run with Firmware Management's code on board: 112 before it,
109 before the charger interface took the readings the MQTT adapters
mirror, 115 before the heap work; docs/ota.md, "Everything on": where the
heap goes, and the app frozen into the image, which fits in 64 KiB). The
line is the greater least and 3 KiB: at the least and 1 it failed one run in
six, as tests/test_heap_budget.py keeps some room above its own. With the most
charging profiles installed (8 of 24 periods) the least is 123 KiB
(docs/ocpp.md, "Smart Charging"). MQTT connected is
not in this run: docs/mqtt.md gives what it adds (evsectl.bench_mqtt,
tests/mqtt/test_adapters_heap.py)."""

import micropython32
from evsectl import bench, bench_ocpp

EVERYTHING_ON_HEAPSIZE_32 = "116k"


def test_everything_on_fits_its_heap_on_32_bit(tmp_path):
    bus = bench._bus()
    try:
        cs = bench_ocpp.CentralSystem(bench._free_port())
        try:
            s = bench_ocpp._charger(str(tmp_path), bus.port, cs.port, micropython32.exe(), EVERYTHING_ON_HEAPSIZE_32,
                                    "everything-on")
            try:
                assert s.boot_line, "".join(s.boot_output[-20:])
                assert bench_ocpp._in_transaction(s, cs), "".join(s.output[-20:])
                assert bench_ocpp.serves_everything(s, cs), "".join(s.output[-20:])
                assert s.request("GET", "/webapi/v1/Status", answer=True)[1]["EvseState"] == 5  # still charging
            finally:
                s.close()
        finally:
            cs.stop()
    finally:
        bus.stop()
