"""A paho-mqtt client as the test's peer (Home Assistant, Josev, EVerest, or
just "someone else on the broker"), with what it received kept in order.

    peer = Peer(broker.port)                 # connected when this returns
    peer.subscribe("evse/#")
    msg = peer.wait("evse/1/state")          # the next (or retained) message there
    peer.wait("evse/1/state", lambda m: m.payload == b"charging")
    peer.publish("evse/1/set/current", "10")
    peer.close()
"""

import threading
import time

import paho.mqtt.client as paho

TIMEOUT = 10


class Peer:
    def __init__(self, port, client_id="", user=None, password=None, will=None, keepalive=60):
        self.messages = []  # every paho MQTTMessage received, in order
        self._cond = threading.Condition()
        self._connected = threading.Event()
        c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id)
        if user:
            c.username_pw_set(user, password)
        if will:
            c.will_set(*will)
        c.on_connect = lambda *a: self._connected.set()
        c.on_message = self._on_message
        c.connect("127.0.0.1", port, keepalive)
        c.loop_start()
        self.client = c
        assert self._connected.wait(TIMEOUT), "paho could not connect to port %d" % port

    def _on_message(self, client, userdata, msg):
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def subscribe(self, topic, qos=1):
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.subscribe(topic, qos)
        assert done.wait(TIMEOUT), "no SUBACK for " + topic

    def publish(self, topic, payload, qos=1, retain=False):
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(TIMEOUT)
        return info

    def wait(self, topic, match=None, timeout=TIMEOUT, after=0):
        """The first message on ``topic`` (from index ``after`` of
        ``messages`` on) that ``match(msg)`` accepts; AssertionError after
        ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = after
            while True:
                while i < len(self.messages):
                    m = self.messages[i]
                    i += 1
                    if m.topic == topic and (match is None or match(m)):
                        return m
                left = deadline - time.monotonic()
                assert left > 0, "no matching message on %s; got %s" % (
                    topic, [(m.topic, m.payload[:80]) for m in self.messages[-20:]])
                self._cond.wait(left)

    def on(self, topic):
        """Every message received on ``topic`` so far."""
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()
