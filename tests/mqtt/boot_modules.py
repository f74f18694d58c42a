"""Boot the charger (app.runtime.Charger on the simulated board, virtual
time, with config.json as the current directory has it) for a moment and
print, as JSON, which MQTT modules it imported and whether it made a client.

    micropython32 tests/mqtt/boot_modules.py LIB    # LIB: the folder that holds microdot/

Run by test_mqtt_off.py in a fresh interpreter each time: a module once
imported stays in sys.modules."""

import asyncio
import json
import sys

HERE = __file__.rsplit("/", 1)[0]
sys.path.insert(0, HERE + "/../../firmware")
sys.path.insert(0, sys.argv[1])

from app.runtime import Charger  # noqa: E402

with open("sim.json", "w") as f:
    f.write(json.dumps({"virtual_time": True, "host": "127.0.0.1", "port": 0}))
charger = Charger(HERE + "/../../boards/sim.json", "config.json", "sim.json")


async def main():
    task = asyncio.create_task(charger.run())
    await asyncio.sleep(0.5)
    names = sorted(m for m in sys.modules if m.startswith("mqtt") or m == "app.mqttsettings")
    print(json.dumps(dict(modules=names, client=charger.mqtt is not None)))
    charger._main.cancel()
    await task


asyncio.run(main())
sys.exit(0)  # the web server and the client's retries would keep the loop going
