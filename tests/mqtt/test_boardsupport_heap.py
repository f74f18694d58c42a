"""What EVerest board support costs a board's heap: on the 32-bit MicroPython
port (an ESP32's word size) with the app in ROM (evsectl.romheap), as a
board runs it. A charger charging in virtual time; then mqtt.boardsupport is
imported and its adapter steers a session (heartbeats, pwm_on,
allow_power_on, the contactor closed), and the heap in use is compared,
after a collection, with what it was before the import.

The MQTT client's own heap is not in it (its module measures it); the
client here only takes the adapter's subscription and drops what the
adapter publishes."""

import json
import subprocess

import micropython32
from evsectl import device, romheap

BUDGET_BYTES = 3 * 1024

MEASURE = r'''
import boot
import gc, json
from app.runtime import Charger


class Client:
    def publish(self, topic, payload, retain=False, qos=0):
        pass

    def subscribe(self, filt, cb):
        self.cb = cb

    def on_connect(self, cb):
        self.connected = cb


ch = Charger("board.json", "config.json", "sim.json")
ch.hal.vehicle.set(state="C")
ch.hal.refresh()
ch.controller.advance(2000)
gc.collect()
base = gc.mem_alloc()
from mqtt.boardsupport import Adapter
gc.collect()
imported = gc.mem_alloc()
c = Client()
P = "everest_api/1/evse_board_support/evse_bsp/e2m/"
a = Adapter(ch, c, "everest_api/1/evse_board_support/evse_bsp")
c.connected()
for n in range(20):
    c.cb(P + "heartbeat", b"%d" % n)
    if n == 5:
        c.cb(P + "pwm_on", b"26.67")
        c.cb(P + "allow_power_on", b'{"allow_power_on": true, "reason": "FullPowerCharging"}')
    ch.controller.advance(500)
    a.poll()
gc.collect()
print(json.dumps({"charging": ch.manager.charging, "import": imported - base, "total": gc.mem_alloc() - base}))
'''


def test_board_support_costs_under_3_kib_on_32_bit_with_the_app_in_rom(tmp_path):
    dev = device.assemble(tmp_path / "dev", "sim", rom=True)
    (dev / "sim.json").write_text(json.dumps({"virtual_time": True}))
    cmd = romheap.command(micropython32.exe(), device.ROM_PARTITION, "1m", MEASURE)
    out = subprocess.run(cmd, cwd=dev, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    print("board support heap, 32-bit, app in ROM:", got)
    assert got["charging"] is True
    assert 0 < got["import"] <= got["total"] <= BUDGET_BYTES, got
