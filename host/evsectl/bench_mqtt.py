"""``evsectl bench``'s MQTT figures (issue 15), on the 32-bit MicroPython
unix port with the app in ROM, as a board runs it, in real time, both
meters polled on the simulated RS485 bus and a vehicle charging, connected
to Debian's mosquitto (evsectl.mosquitto) on loopback:

    mqtt_ha_heap_bytes_32     heap in use (the least of six samples, a second
                              apart) with MQTT and Home Assistant on: discovery
                              published, the state published every second
                              (MqttIntervalS 1), and a paho-mqtt "Home
                              Assistant" setting the charge current every second
    mqtt_off_heap_bytes_32    the same charger with MQTT off
    mqtt_ha_heap_cost_bytes_32  the difference: what MQTT + Home Assistant cost a board
    mqtt_ha_boot_heap_cost_bytes_32  what booting with them on takes beyond
                              booting with MQTT off (imports, the client's
                              buffers, the tasks): the boot line's figures, no meters
    min_heapsize_kib_mqtt_ha_32  the least -X heapsize (KiB) at which the charger,
                              no meters, boots, serves every endpoint, charges,
                              and Home Assistant works (discovery complete, the
                              state heard, its commands obeyed) and goes on
                              working; no MemoryError
"""

import json
import re
import sys
import threading
import time

from evsectl import paths, romheap
from evsectl.mosquitto import Broker

PREFIX = "bench/evse"


def _entities():
    sys.path.insert(0, str(paths.firmware_dir()))
    from mqtt.homeassistant import ENTITIES

    return len(ENTITIES)


class HomeAssistant:
    """A paho-mqtt client as Home Assistant: counts the discovery configs and
    the states it hears, and sets the charge current (14 A, 15 A, ...) once
    a second."""

    def __init__(self, port):
        import paho.mqtt.client as paho

        self.configs = set()
        self.states = 0
        self.errors = 0
        self.sent = 0
        self.last_state = {}
        self._stop = threading.Event()
        c = paho.Client(paho.CallbackAPIVersion.VERSION2)
        c.on_connect = lambda *a: (c.subscribe("homeassistant/#"), c.subscribe(PREFIX + "/#"))
        c.on_message = self._on_message
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c
        threading.Thread(target=self._run, daemon=True).start()

    def _on_message(self, client, userdata, msg):
        if msg.topic.startswith("homeassistant/"):
            self.configs.add(msg.topic)
        elif msg.topic == PREFIX + "/state":
            self.states += 1
            self.last_state = json.loads(msg.payload)
        elif msg.topic == PREFIX + "/error":
            self.errors += 1

    def _run(self):
        while not self._stop.wait(1.0):
            self.client.publish(PREFIX + "/set/charge_current", str(14 + self.sent % 2), qos=1)
            self.sent += 1

    def obeyed(self):
        """A command of the last few seconds is in the state it publishes."""
        return self.sent >= 2 and self.last_state.get("charge_current") in (14, 15) and not self.errors

    def stop(self):
        self._stop.set()
        self.client.disconnect()
        self.client.loop_stop()


def _charger(workdir, bus_port, micropython32, heapsize, name, broker):
    """A charger with MQTT + Home Assistant on (``broker``: its Broker) or off
    (None), with its Home Assistant."""
    from evsectl.bench import _Sim

    config = {}
    if broker:
        config = {"MqttBroker": "127.0.0.1", "MqttPort": broker.port, "MqttPrefix": PREFIX, "MqttIntervalS": 1}
    s = _Sim(workdir, heapsize=heapsize, bus_port=bus_port, micropython=micropython32, virtual_time=False,
             config=config, name=name)
    s.output = []
    threading.Thread(target=lambda: s.output.extend(s.proc.stdout), daemon=True).start()
    return s, HomeAssistant(broker.port) if broker else None


def _working(s, ha, timeout=20, meters=True):
    """Charging, both meters read, Home Assistant's discovery complete and its commands obeyed."""
    from evsectl.bench_ocpp import _meters_valid

    entities = _entities()
    try:
        s.request("POST", "/sim/v1/Vehicle", {"State": "C"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = s.request("GET", "/webapi/v1/Status", answer=True)[1]
            heard = ha is None or (len(ha.configs) == entities and ha.obeyed())
            if status["EvseState"] == 5 and heard:
                return _meters_valid(s) if meters else True
            time.sleep(0.2)
    except (OSError, ValueError, KeyError):
        pass
    return False


def _stop(s, ha):
    if ha:
        ha.stop()
    s.close()


def heap_bytes(workdir, bus_port, micropython32, mqtt, heap_kib=256, samples=6):
    """Heap in use, the least of ``samples`` a little over a second apart (the
    housekeeping task collects once a second: what requests and messages
    leave between two collections is not what the charger keeps)."""
    broker = Broker(workdir).start() if mqtt else None
    try:
        s, ha = _charger(workdir, bus_port, micropython32, "%dk" % heap_kib, "mqtt-on" if mqtt else "mqtt-off", broker)
        try:
            if not (s.boot_line and _working(s, ha)):
                return None
            least = None
            for _ in range(samples):
                time.sleep(1.1)
                heap = s.request("GET", "/webapi/v1/SystemInfo", answer=True)[1]["HeapInfo"]
                used = heap_kib * 1024 - int(heap.split("/")[1], 16)
                least = used if least is None else min(least, used)
            return least
        finally:
            _stop(s, ha)
    finally:
        if broker:
            broker.stop()


def works(workdir, micropython32, heapsize):
    """The charger at ``heapsize``, no meters, in real time, MQTT + Home
    Assistant on: it boots, charges, serves every endpoint (bench.ENDPOINTS_GET,
    ENDPOINTS_POST), Home Assistant works and goes on working after all
    that; no MemoryError."""
    from evsectl.bench import ENDPOINTS_GET, ENDPOINTS_POST

    broker = Broker(workdir).start()
    s, ha = _charger(workdir, None, micropython32, heapsize, "mqtt-" + heapsize, broker)
    try:
        ok = bool(s.boot_line) and _working(s, ha, meters=False)
        for path, body in [("/webapi/v1/" + name, None) for name in ENDPOINTS_GET] + \
                [(path, body) for path, body in ENDPOINTS_POST if path != "/sim/v1/Time"]:
            ok = ok and s.request("POST" if body else "GET", path, body, answer=True)[0] == 200
        if ok:  # and it goes on working: more states, the newest commands obeyed
            states, sent = ha.states, ha.sent
            deadline = time.monotonic() + 10
            while ok and not (ha.states > states + 2 and ha.sent > sent + 2 and ha.obeyed()):
                ok = time.monotonic() < deadline
                time.sleep(0.2)
        return ok and s.proc.poll() is None and not any("MemoryError" in line for line in s.output)
    except (OSError, ValueError):
        return False
    finally:
        _stop(s, ha)
        broker.stop()


def min_heapsize_kib(workdir, micropython32, low=48, high=160):
    """The least heap (KiB) at which ``works``, bisected."""
    return romheap.least_kib(lambda kib: works(workdir, micropython32, "%dk" % kib), low, high)


def boot_cost(workdir, micropython32):
    """Heap used after boot with MQTT + Home Assistant on, less that with MQTT off."""
    used = []
    broker = Broker(workdir).start()
    try:
        for on in (False, True):
            s, ha = _charger(workdir, None, micropython32, "256k", "mqtt-boot-%s" % on, broker if on else None)
            try:
                match = re.search(r"heap free \d+ used (\d+)", s.boot_line)
                used.append(int(match.group(1)) if match else None)
            finally:
                _stop(s, ha)
    finally:
        broker.stop()
    return used[1] - used[0] if None not in used else None


def measure(workdir, bus_port, micropython32):
    """The MQTT figures (see the module's docstring); ``bus_port``: the
    simulated RS485 bus with meters at units 1 and 2 (bench._bus)."""
    on = heap_bytes(workdir, bus_port, str(micropython32), True)
    off = heap_bytes(workdir, bus_port, str(micropython32), False)
    return {
        "mqtt_ha_heap_bytes_32": on,
        "mqtt_off_heap_bytes_32": off,
        "mqtt_ha_heap_cost_bytes_32": on - off if on is not None and off is not None else None,
        "mqtt_ha_boot_heap_cost_bytes_32": boot_cost(workdir, str(micropython32)),
        "min_heapsize_kib_mqtt_ha_32": min_heapsize_kib(workdir, str(micropython32)),
    }


def main():
    """``python -m evsectl.bench_mqtt``: these figures alone, as JSON."""
    from evsectl import bench

    bench.print_figures_alone(measure, "mqtt")


if __name__ == "__main__":
    main()
