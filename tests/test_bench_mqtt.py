"""`evsectl bench`'s MQTT figures (host/evsectl/bench_mqtt.py) are measured:
the 32-bit port, app in ROM, connected to a loopback mosquitto with a
paho-mqtt Home Assistant steering. What they are is printed by the bench,
never asserted here; this holds that each is measured, of the right kind,
and consistent with each other. (The least heap, bisected over ``works``,
takes minutes: the bench's alone.)"""

import micropython32
from evsectl import bench, bench_mqtt


def test_the_mqtt_heap_figures_are_measured(tmp_path):
    exe = micropython32.exe()
    bus = bench._bus()
    try:
        on = bench_mqtt.heap_bytes(str(tmp_path), bus.port, exe, True, samples=2)
        off = bench_mqtt.heap_bytes(str(tmp_path), bus.port, exe, False, samples=2)
    finally:
        bus.stop()
    assert isinstance(on, int) and isinstance(off, int) and 0 < off < on < 256 * 1024
    print("MQTT + Home Assistant: %d bytes of heap on 32-bit (off: %d)" % (on - off, off))
