"""What EVerest board support costs a board's heap: on the 32-bit MicroPython
port (an ESP32's word size) with the app in ROM (evsectl.romheap), as a
board runs it. A charger with a vehicle in C, in virtual time; then the MQTT
client (mqtt.client) and mqtt.boardsupport are imported, the client
connects to mosquitto, and paho-mqtt as EVerest (everest_bsp.Everest)
sends its heartbeats, pwm_on and allow_power_on until the contactor is
closed. The heap in use then (the least of a few samples, each after a
collection) is compared with what it was before the imports.

The same run without the adapter (the client connected, subscribed to the
same topics) tells what board support itself costs beyond the client."""

import json
import subprocess
import threading

import micropython32
from everest_bsp import Everest
from evsectl import device, romheap
from mqtt.boardsupport import MAX_PACKET  # the client's buffers, as mqtt.service sizes them

BUDGET_BYTES = 12 * 1024  # the client (its two packet buffers, the socket's streams) and the adapter
# Beyond the client: mqtt.boardsupport, charger.external and evse.external (loaded
# only in this mode), the adapter and the kernel's external state.
ADAPTER_BUDGET_BYTES = 4 * 1024
PREFIX = "garage/evse"  # MqttPrefix: EVerest's module id is it with "_" for "/"
EVEREST = "everest_api/1/evse_board_support/garage_evse"

MEASURE = r'''
import boot
import asyncio, gc, json
from app.runtime import Charger

ch = Charger("board.json", "config.json", "sim.json")
ch.hal.vehicle.set(state="C")
ch.hal.refresh()
ch.controller.advance(2000)
gc.collect()
base = gc.mem_alloc()
from mqtt.client import MqttClient
if %(adapter)s:
    from mqtt.boardsupport import Adapter
gc.collect()
imported = gc.mem_alloc()


async def main():
    c = MqttClient("127.0.0.1", %(port)d, "evse-bsp-heap", max_packet=%(max_packet)d)
    if %(adapter)s:
        a = Adapter(ch, c, "%(prefix)s")
    else:
        c.subscribe("%(everest)s/e2m/#", lambda topic, payload: None, qos=1)
    task = asyncio.create_task(c.run())
    low = None
    for n in range(400):  # 20 s of real time at most
        await asyncio.sleep_ms(50)
        ch.controller.advance(100)
        if %(adapter)s:
            a.poll()
        if (c.connected and n > 20 or ch.manager.charging) and n %% 10 == 0:
            gc.collect()
            used = gc.mem_alloc()
            low = used if low is None or used < low else low
            if n > 50:
                break
    charging = ch.manager.charging
    await c.close()
    print(json.dumps({"charging": charging, "import": imported - base, "total": low - base}))


asyncio.run(main())
'''


def _measure(dev, broker, adapter):
    """The figures of one run, with the adapter or without (the client alone)."""
    ev = Everest(broker.port, EVEREST)
    done = threading.Event()

    def everest():
        if adapter:
            ev.wait("capabilities", timeout=30)
        n = 0
        while not done.wait(0.1):
            n += 1
            ev.send("heartbeat", n)
            if n == 3:
                ev.send("pwm_on", 16 / 0.6)
                ev.send("allow_power_on", {"allow_power_on": True, "reason": "FullPowerCharging"})

    t = threading.Thread(target=everest, daemon=True)
    t.start()
    script = MEASURE % {"port": broker.port, "prefix": PREFIX, "everest": EVEREST, "adapter": adapter,
                        "max_packet": MAX_PACKET}
    cmd = romheap.command(micropython32.exe(), device.ROM_PARTITION, "1m", script)
    try:
        out = subprocess.run(cmd, cwd=dev, capture_output=True, text=True, timeout=120)
    finally:
        done.set()
        t.join(10)
        ev.close()
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_board_support_with_its_client_fits_on_32_bit_with_the_app_in_rom(tmp_path, broker):
    dev = device.assemble(tmp_path / "dev", "sim", rom=True)
    (dev / "sim.json").write_text(json.dumps({"virtual_time": True}))
    on = _measure(dev, broker, True)
    client = _measure(dev, broker, False)
    print("32-bit heap, app in ROM: board support and client %r, the client alone %r" % (on, client))
    assert on["charging"] is True, on
    assert 0 < on["import"] <= on["total"] <= BUDGET_BYTES, on
    assert 0 < on["total"] - client["total"] <= ADAPTER_BUDGET_BYTES, (on, client)
