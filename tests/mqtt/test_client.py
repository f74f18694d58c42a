"""The MQTT client (firmware/mqtt/client.py) under CPython against Debian's
mosquitto: client_cases.py with a broker each, and the cases that need
paho-mqtt peers, a password file or a broker killed and restarted."""

import asyncio

import client_cases
import pytest

from broker import Broker
from mqtt.client import MqttClient

CASES = sorted(n for n in dir(client_cases) if n.startswith("test_"))


@pytest.mark.parametrize("case", CASES)
def test_case(case, mqtt_env):
    getattr(client_cases, case)()


async def _until(cond, what, s=10):
    for _ in range(int(s * 100)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


def test_paho_sees_retained_qos1_messages_and_our_will(broker, peer):
    p = peer()
    p.subscribe("evse/#")

    async def main():
        c = MqttClient("127.0.0.1", broker.port, "evse-will", will=("evse/status", "offline", True, 1))
        c.on_connect(lambda: c.publish("evse/status", "online", retain=True, qos=1))
        task = asyncio.create_task(c.run())
        await _until(lambda: c.connected and c.pending() == 0, "online acknowledged")
        c.publish("evse/power", "7200", qos=0)
        await asyncio.to_thread(p.wait, "evse/power")
        c._stop = True
        c._abort()  # dies without DISCONNECT
        await asyncio.to_thread(p.wait, "evse/status", lambda m: m.payload == b"offline")
        task.cancel()

    asyncio.run(main())
    online = p.wait("evse/status")
    assert online.payload == b"online" and online.retain is False  # live, not from the store
    late = peer()
    late.subscribe("evse/status")
    assert late.wait("evse/status").payload == b"offline"  # the will was retained


def test_paho_commands_reach_the_callback_qos1_acknowledged(broker, peer):
    got = []

    async def main():
        c = MqttClient("127.0.0.1", broker.port, "evse-cmd")
        c.subscribe("evse/set/+", lambda t, p: got.append((t, p)), qos=1)
        task = asyncio.create_task(c.run())
        await _until(lambda: c.connected, "connection")
        await asyncio.sleep(0.2)
        p = peer()
        await asyncio.to_thread(p.publish, "evse/set/current", "10", 1)  # waits for our PUBACK
        await asyncio.to_thread(p.publish, "evse/set/other", "x", 0)
        await _until(lambda: len(got) == 2, "both commands")
        await c.close()
        await task

    asyncio.run(main())
    assert got == [("evse/set/current", b"10"), ("evse/set/other", b"x")]


def test_user_and_password_are_checked_by_the_broker(tmp_path):
    b = Broker(tmp_path, users={"evse": "s3cret"}).start()
    try:
        async def attempt(password):
            c = MqttClient("127.0.0.1", b.port, "evse-auth", user="evse", password=password)
            task = asyncio.create_task(c.run())
            try:
                await _until(lambda: c.connected, "connection", s=1.5)
                ok = True
            except AssertionError:
                ok = False
            await c.close()
            await task
            return ok

        assert asyncio.run(attempt("s3cret"))
        assert not asyncio.run(attempt("wrong"))
    finally:
        b.stop()


def test_broker_killed_and_restarted_the_client_reconnects(broker, peer):
    calls = []
    got = []

    async def main():
        c = MqttClient("127.0.0.1", broker.port, "evse-re", keepalive_s=5)
        c.on_connect(lambda: calls.append(c.publish("evse/re/status", "online", retain=True, qos=1)))
        c.subscribe("evse/re/set", lambda t, p: got.append(p))
        task = asyncio.create_task(c.run())
        await _until(lambda: c.connected and c.pending() == 0, "connection")
        await asyncio.to_thread(broker.kill)
        await _until(lambda: not c.connected, "the link to drop")
        assert c.publish("evse/re/queued", "while down", qos=1)  # kept until acknowledged
        await asyncio.to_thread(broker.start)
        await _until(lambda: c.connected and c.pending() == 0, "the reconnection", s=15)
        assert c.reconnects == 1 and calls == [True, True]
        p = peer()
        p.subscribe("evse/re/#")
        await asyncio.to_thread(p.wait, "evse/re/status", lambda m: m.payload == b"online")
        await asyncio.to_thread(p.publish, "evse/re/set", "after", 1)
        await _until(lambda: got == [b"after"], "a command over the renewed subscription")
        await c.close()
        await task

    asyncio.run(main())
