"""A charger on the test broker: tests/charger/rig.py's Rig (the real
app.runtime.Charger on the simulated board, in virtual time), our MQTT
client connected to the test's mosquitto, and an adapter on it, all in
the test's asyncio loop; paho-mqtt peers run in their own threads.

    async def main():
        live = await Live.start(broker.port, josev.Adapter, ChargeAutoStart=True)
        live.rig.vehicle("C")
        await live.run(1000)                       # 1 s of control ticks, virtual
        msg = await live.expect(josev_peer, "cs/josev", lambda d: ...)
        await live.stop()

Charger time is virtual (``run``); only the broker's round trips take real
time, waited for in ``expect`` without blocking the loop."""

import asyncio
import json

from rig import Rig

from mqtt.client import MqttClient

TIMEOUT_S = 10


class Live:
    @classmethod
    async def start(cls, port, adapter_class, prefix="evse", queue_len=16, **settings):
        self = cls()
        self.rig = Rig(**settings)
        self.client = MqttClient("127.0.0.1", port, "evse-under-test", queue_len=queue_len)
        self.adapter = adapter_class(self.rig.charger, self.client, prefix)
        self.tasks = [asyncio.create_task(self.client.run()), asyncio.create_task(self.adapter.run())]
        await self.until(lambda: self.client.connected and self.client.pending() == 0, "the client connected")
        return self

    async def run(self, ms):
        """``ms`` of control ticks (virtual), then let the adapter and client act."""
        self.rig.run(ms)
        for _ in range(3):
            await asyncio.sleep(0)

    async def until(self, cond, what, s=TIMEOUT_S):
        for _ in range(int(s * 100)):
            if cond():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("timed out waiting for " + what)

    async def expect(self, peer, topic, match=None, after=0):
        """The first message (index >= after) on ``topic`` whose JSON
        payload ``match`` accepts: (index, decoded payload)."""
        found = []

        def look():
            for i, m in enumerate(peer.messages[after:], after):
                if m.topic == topic:
                    data = json.loads(m.payload)
                    if match is None or match(data):
                        found.append((i, data))
                        return True
            return False

        try:
            await self.until(look, "a message on %s" % topic)
        except AssertionError:
            raise AssertionError("no matching message on %s; got %s" % (
                topic, [(m.topic, m.payload[:200]) for m in peer.messages[after:][-15:]]))
        return found[0]

    async def stop(self):
        await self.client.close()
        for t in self.tasks:
            t.cancel()
        await asyncio.sleep(0)
