"""What MQTT with the Josev and EVerest adapters costs the heap, on the
MicroPython port that runs it (test_adapters_heap.py runs it on the 32-bit
one, whose words are an ESP32's):

    micropython32 -X heapsize=4m heap_probe.py PORT   # in a scratch directory

Boots the real charger (tests/charger/rig.py, virtual time), then adds the
client, the Josev adapter and the EVerest consumer adapter one by one,
measuring the heap in use after a collection each time (code and state).
Then a session runs for a virtual minute with both adapters connected to
the broker on PORT, the charger's own requests looped back through it
(Josev asking for its limits, EVerest pausing and resuming), and the most
heap live at any sample (after a collection: messages queued, in flight,
being built) over the idle charger is kept. Prints one JSON line of the
figures in bytes."""

import gc
import json
import sys

_tests = __file__[: __file__.rfind("/")]
_tests = _tests[: _tests.rfind("/")]
for _p in (_tests + "/../firmware", _tests + "/charger"):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import asyncio  # noqa: E402


PACKET = 768  # the client's buffers, as mqtt.service sizes them for these two adapters


def used():
    gc.collect()
    return gc.mem_alloc()


def main(port):
    from rig import Rig

    rig = Rig(ChargeAutoStart=True, Charge3Phase=True)
    figures = {}
    base = used()
    from mqtt.client import MqttClient

    client = MqttClient("127.0.0.1", port, "heap-probe", max_packet=PACKET)
    figures["client"] = used() - base
    base = used()
    from mqtt import josev

    j = josev.Adapter(rig.charger, client, "evse")
    figures["josev"] = used() - base
    base = used()
    from mqtt import everest

    e = everest.Adapter(rig.charger, client, "evse")
    assert PACKET == max(josev.MAX_PACKET, everest.MAX_PACKET)  # the buffers mqtt.service gives them
    figures["everest"] = used() - base
    peak = [0]

    def sample():
        a = used()  # live objects only: how much garbage piles up is the collector's threshold's business
        if a > peak[0]:
            peak[0] = a

    async def session():
        tasks = [asyncio.create_task(client.run()), asyncio.create_task(j.run()), asyncio.create_task(e.run())]
        for _ in range(500):
            if client.connected:
                break
            await asyncio.sleep_ms(10)
        assert client.connected, "no broker on %d" % port
        for _ in range(500):  # what both adapters publish on connecting: sent and acknowledged
            await asyncio.sleep_ms(10)
            if not client.pending():
                break
        base = used()
        rig.vehicle("C")
        ask = json.dumps({"id": "79ac862e-d0a7-4eef-98b5-c827be3bd669", "name": "cs_status_and_limits",
                          "type": "request", "data": {}})
        for second in range(60):
            rig.run(1000)
            if second % 10 == 0:
                client.publish(josev.REQUESTS, ask, qos=1)
            if second == 20:
                client.publish(e.base + "/m2e/pause_charging", '{"headers": {"replyTo": "probe/reply"}}', qos=1)
            if second == 30:
                client.publish(e.base + "/m2e/resume_charging", '{"headers": {"replyTo": "probe/reply"}}', qos=1)
            for _ in range(5):
                await asyncio.sleep_ms(10)
                sample()
        assert rig.m.kernel.relay, "not charging"
        rig.vehicle("A")
        rig.run(2000)
        for _ in range(20):
            await asyncio.sleep_ms(10)
            sample()
        figures["session_live_peak"] = peak[0] - base
        figures["session_left"] = used() - base
        figures["refused"] = client.refused
        await client.close()
        for t in tasks:
            t.cancel()

    asyncio.run(session())
    figures["total"] = figures["client"] + figures["josev"] + figures["everest"]
    print(json.dumps(figures))


main(int(sys.argv[1]))
