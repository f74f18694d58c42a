"""The MQTT client's cases against a real mosquitto, run alike under CPython
(test_client.py, one broker per case) and the MicroPython unix ports
(test_client_micropython.py, via tests/mpy_runner.py): the broker's ports
and CA files come in the environment (conftest.py's mqtt_env). Both ends are our client here, as no paho runs
under MicroPython; test_client.py has paho-mqtt peers as well."""

import asyncio
import gc
import os

from mqtt.client import MqttClient

DEADLINE_MS = 5000
_n = [0]


def _port():
    return int(os.getenv("MQTT_TEST_PORT"))


def _client(**kw):
    _n[0] += 1
    return MqttClient("127.0.0.1", _port(), kw.pop("client_id", "case-%d-%d" % (os.getpid() if hasattr(os, "getpid") else 0, _n[0])), **kw)


async def _until(cond, what, ms=DEADLINE_MS):
    while not cond():
        assert ms > 0, "timed out waiting for " + what
        await asyncio.sleep(0.01)
        ms -= 10


async def _started(*clients):
    tasks = [asyncio.create_task(c.run()) for c in clients]
    for c in clients:
        await _until(lambda: c.connected, "a connection")
    return tasks


async def _stopped(clients, tasks):
    for c in clients:
        await c.close()
    for t in tasks:
        await t


def _run(coro):
    asyncio.run(coro)


def _collector(got):
    def cb(topic, payload):
        got.append((topic, payload))

    return cb


def test_qos0_and_qos1_messages_arrive_and_qos1_is_acknowledged():
    async def main():
        a, b = _client(), _client()
        got = []
        a.subscribe("cases/qos/#", _collector(got), qos=1)
        subscribed = []
        a.on_connect(lambda: subscribed.append(1))
        tasks = await _started(a, b)
        await asyncio.sleep(0.2)  # a's SUBSCRIBE is through
        assert subscribed == [1]
        assert b.publish("cases/qos/zero", "0")
        assert b.publish("cases/qos/one", b"\x01\x00", qos=1)
        await _until(lambda: len(got) == 2, "both messages")
        assert sorted(got) == [("cases/qos/one", b"\x01\x00"), ("cases/qos/zero", b"0")]
        await _until(lambda: b.pending() == 0, "the PUBACK")
        assert a.dropped == 0 and b.dropped == 0
        await _stopped((a, b), tasks)

    _run(main())


def test_a_retained_message_reaches_a_later_subscriber():
    async def main():
        b = _client()
        tasks = await _started(b)
        b.publish("cases/retained/x", "kept", retain=True, qos=1)
        await _until(lambda: b.pending() == 0, "the PUBACK")
        a = _client()
        got = []
        a.subscribe("cases/retained/+", _collector(got))
        tasks += await _started(a)
        await _until(lambda: got, "the retained message")
        assert got == [("cases/retained/x", b"kept")]
        b.publish("cases/retained/x", "", retain=True, qos=1)  # clears it on the broker
        await _until(lambda: b.pending() == 0, "the PUBACK")
        await _stopped((a, b), tasks)

    _run(main())


def test_wildcards_and_a_subscription_made_while_connected():
    async def main():
        a, b = _client(), _client()
        tasks = await _started(a, b)
        plus, hash_ = [], []
        a.subscribe("cases/w/+/set", _collector(plus))
        a.subscribe("cases/w/#", _collector(hash_))
        await asyncio.sleep(0.2)
        for t in ("cases/w/1/set", "cases/w/1/set/x", "cases/w/2/get"):
            b.publish(t, t, qos=1)
        await _until(lambda: len(hash_) == 3, "three messages")
        assert [t for t, _ in plus] == ["cases/w/1/set"]
        await _stopped((a, b), tasks)

    _run(main())


def test_an_oversize_packet_is_dropped_counted_and_never_allocated():
    async def main():
        size = 40000
        b = _client(max_packet=size + 100)
        a = _client(max_packet=1024)
        tasks = await _started(a, b)
        # Retained, so that the broker sends them when ``a`` subscribes.
        b.publish("cases/big/huge", b"x" * size, retain=True, qos=1)
        b.publish("cases/big/small", "after", retain=True, qos=1)
        await _until(lambda: b.pending() == 0, "the PUBACKs")
        got = []
        gc.collect()
        measured = hasattr(gc, "mem_alloc")  # MicroPython: every byte allocated, collector off
        if measured:
            gc.disable()
            before = gc.mem_alloc()
        a.subscribe("cases/big/#", _collector(got))
        await _until(lambda: got, "the small message")
        if measured:
            allocated = gc.mem_alloc() - before
            gc.enable()
            print("allocated while subscribing and dropping a %d-byte packet: %d bytes" % (size, allocated))
            assert allocated < size // 2, allocated  # read through the 1 KB buffer, never whole
        assert got == [("cases/big/small", b"after")]
        assert a.dropped == 1 and a.connected
        for t in ("cases/big/huge", "cases/big/small"):
            b.publish(t, "", retain=True, qos=1)
        await _until(lambda: b.pending() == 0, "the PUBACKs")
        await _stopped((a, b), tasks)

    _run(main())


def test_keep_alive_pings_hold_an_idle_link():
    async def main():
        a = _client(keepalive_s=1)  # mosquitto drops us after 1.5 s without a packet
        tasks = await _started(a)
        await asyncio.sleep(3.2)
        assert a.connected and a.reconnects == 0
        await _stopped((a,), tasks)

    _run(main())


def test_the_last_will_is_published_when_the_link_dies_not_after_a_clean_close():
    async def main():
        watcher = _client()
        got = []
        watcher.subscribe("cases/will/+", _collector(got))
        tasks = await _started(watcher)
        await asyncio.sleep(0.2)
        clean = _client(will=("cases/will/clean", "offline", False, 1))
        dying = _client(will=("cases/will/dying", "offline", False, 1))
        tasks += await _started(clean, dying)
        await clean.close()
        dying._abort()  # the socket closed, no DISCONNECT: as a crash or power cut looks
        await _until(lambda: got, "the will")
        await asyncio.sleep(0.3)
        assert got == [("cases/will/dying", b"offline")]
        await _stopped((watcher, dying), tasks)

    _run(main())


def test_tls_reaches_only_the_broker_our_ca_signed_under_its_name():
    from app.tls import client_context

    def ca(name):
        with open(os.getenv(name)) as f:
            return f.read()

    port = int(os.getenv("MQTT_TEST_TLS_PORT"))
    try:
        good, wrong = client_context(ca("MQTT_TEST_CA")), client_context(ca("MQTT_TEST_WRONG_CA"))
    except ImportError:  # the 32-bit port, as a build without TLS: refused at config time
        from app.mqttsettings import has_tls

        assert not has_tls()
        return

    async def main():
        a = MqttClient("localhost", port, "tls-good", tls=good)
        got = []
        a.subscribe("cases/tls", _collector(got), qos=1)
        tasks = await _started(a)
        await asyncio.sleep(0.2)
        a.publish("cases/tls", "secret", qos=1)
        await _until(lambda: got == [("cases/tls", b"secret")], "the message over TLS")
        others = [MqttClient("localhost", port, "tls-wrong-ca", tls=wrong),
                  MqttClient("127.0.0.1", port, "tls-wrong-name", tls=good)]  # the certificate names localhost
        tasks += [asyncio.create_task(c.run()) for c in others]
        await asyncio.sleep(1.5)
        assert not any(c.connected for c in others)
        await _stopped([a] + others, tasks)

    _run(main())


def test_the_longest_connect_the_settings_allow_fits_the_least_buffer():
    from mqtt import service

    prefix = "p" * 64  # MqttPrefix's most; the user and password's too (app.config)
    a = _client(client_id=prefix.replace("/", "-"), user="u" * 64, password="w" * 64,
                will=(prefix + "/status", "offline", True, 1), max_packet=service.MAX_PACKET)
    got = []
    a.subscribe(prefix + "/status", _collector(got))

    async def main():
        tasks = await _started(a)  # the anonymous test broker takes any credentials
        a.publish(prefix + "/status", "online", retain=True, qos=1)
        await _until(lambda: got, "the status")
        a.publish(prefix + "/status", "", retain=True, qos=1)
        await _until(lambda: a.pending() == 0, "the PUBACK")
        await _stopped((a,), tasks)

    _run(main())


def test_publish_never_waits_and_its_queue_is_bounded():
    async def main():
        a = _client(queue_len=4)
        assert not a.publish("cases/q", "offline qos0")  # not connected: at most once
        for i in range(4):
            assert a.publish("cases/q", str(i), qos=1)
        assert not a.publish("cases/q", "5", qos=1) and a.refused == 1
        try:
            a.publish("cases/q", "x" * a.max_packet)
            raise AssertionError("a message bigger than max_packet was queued")
        except ValueError:
            pass
        tasks = await _started(a)
        await _until(lambda: a.pending() == 0, "the queued messages to be acknowledged")
        await _stopped((a,), tasks)

    _run(main())
