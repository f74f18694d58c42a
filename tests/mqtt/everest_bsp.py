"""EVerest's EvseManager on the far side of the board-support API, played
by paho-mqtt, and the schema every payload we publish must follow.

    ev = Everest(port, PREFIX)             # subscribed to <prefix>/m2e/#
    ev.send("pwm_on", 26.7)                # <prefix>/e2m/pwm_on, QoS 1
    ev.wait("event", {"event": "C"})       # the next matching message, or AssertionError

Every message that arrives is validated against its channel's payload in
everest-api/evse_board_support_API.yaml (jsonschema); one on a topic the
schema does not define fails the test.
"""

import json
import queue
import time
from pathlib import Path

import jsonschema
import paho.mqtt.client as paho
import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT202012

# EVerest's AsyncAPI schemas, where CI lays them out: ../shared/peers/ beside
# the repository (as tests/micropython32.py finds the 32-bit port).
API = Path(__file__).resolve().parents[3] / "shared" / "peers" / "everest-api"


def schemas():
    """{"m2e/event": validator, ...} for every channel the schema defines."""
    with open(API / "evse_board_support_API.yaml") as f:
        doc = yaml.safe_load(f)
    # request_stop_transaction's payload is the consumer API's StopTransactionRequest.
    with open(API / "evse_manager_consumer_API.yaml") as f:
        consumer = yaml.safe_load(f)
    registry = Registry().with_resource("evse_manager_consumer_API.yaml", DRAFT202012.create_resource(consumer))
    messages = doc["components"]["messages"]
    out = {}
    for channel in doc["channels"].values():
        address = channel.get("address")
        if not address:
            continue  # the reply channel: its address is the request's replyTo
        for ref in channel["messages"].values():
            message = messages[ref["$ref"].rsplit("/", 1)[1]]
            payload = message.get("payload")
            schema = {"components": doc["components"]}
            if payload:
                schema.update(payload)
            else:
                schema["type"] = "null"  # no payload defined: none sent
            out[address] = jsonschema.Draft202012Validator(schema, registry=registry)
    return out


class Everest:
    def __init__(self, port, prefix, timeout=5.0):
        self.prefix = prefix.rstrip("/") + "/"
        self.timeout = timeout
        self.validators = schemas()
        self.log = []  # (name, value) of every message received, in order
        self._unread = []  # received, not yet waited for
        self._inbox = queue.Queue()
        self._c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="everest-evse-manager")
        self._c.on_message = lambda c, u, msg: self._inbox.put((msg.topic, msg.payload))
        subscribed = queue.Queue()
        self._c.on_subscribe = lambda *a: subscribed.put(True)
        self._c.connect("127.0.0.1", port)
        self._c.loop_start()
        self._c.subscribe(self.prefix + "m2e/#", qos=1)
        self._c.subscribe(self.prefix + "reply/#", qos=1)
        subscribed.get(timeout=timeout)
        subscribed.get(timeout=timeout)

    def close(self):
        self._c.loop_stop()
        self._c.disconnect()

    def send(self, name, value=None, raw=None, valid=True):
        """Publish ``value`` (JSON, as the schema has it unless ``valid`` is
        False) or ``raw`` bytes on <prefix>/e2m/<name>."""
        if raw is None and valid:
            self.validators["e2m/" + name].validate(value)
        payload = raw if raw is not None else ("" if value is None else json.dumps(value))
        self._c.publish(self.prefix + "e2m/" + name, payload, qos=1).wait_for_publish(self.timeout)

    def _take(self, timeout):
        topic, payload = self._inbox.get(timeout=timeout)
        value = json.loads(payload)
        name = topic[len(self.prefix):]
        if name.startswith("m2e/"):
            assert name in self.validators, "published on a topic the schema does not define: " + topic
            self.validators[name].validate(value)
            name = name[4:]
        self.log.append((name, value))
        return name, value

    def wait(self, name, value=None, timeout=None):
        """The oldest message not yet waited for on ``name`` (equal to
        ``value`` if given), waiting for it if it has not come yet."""
        deadline = time.monotonic() + (timeout or self.timeout)
        for i, got in enumerate(self._unread):
            if got[0] == name and (value is None or got[1] == value):
                del self._unread[i]
                return got[1]
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "no %s %r from the charger; got %r" % (name, value, self.log[-10:])
            try:
                got = self._take(left)
            except queue.Empty:
                continue
            if got[0] == name and (value is None or got[1] == value):
                return got[1]
            self._unread.append(got)

    def forget(self, name, settle=0.2):
        """Drop every message on ``name`` not waited for, with those arriving
        within ``settle`` s; the others stay to be waited for."""
        self._unread = [got for got in self.drain(settle) if got[0] != name]

    def drain(self, settle=0.2):
        """Every message not waited for, with what arrives within ``settle`` s."""
        while True:
            try:
                self._unread.append(self._take(settle))
            except queue.Empty:
                out, self._unread = self._unread, []
                return out
