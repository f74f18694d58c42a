"""MQTT at run time: what app.runtime starts when MqttBroker is set
(docs/mqtt.md). Not set, this package is never imported.

    for name, task in tasks(charger):   # app.runtime runs each guarded
        ...

One client (mqtt.client) to the broker, with the last will
``<prefix>/status`` = "offline" (retained) and "online" published there
after every connection. Then the adapters switched on, and only those
imported: MqttHomeAssistant (mqtt.homeassistant), MqttJosev (mqtt.josev),
MqttEverest 1 (mqtt.everest) or 2 (mqtt.boardsupport).

An adapter is a module with a class ``Adapter(charger, client, prefix)``
and ``MAX_PACKET``, the largest packet (bytes) it publishes or takes in:
the client's two buffers are as big as the largest of these. Its
constructor subscribes (``client.subscribe``) and registers what to
republish after a reconnection (``client.on_connect``); if it has an
``async run()``, that runs as a task of its own (restarted if it fails,
like every task but control). It steers the charger only through
``charger.manager`` (charger.manager.EvseManager).
"""

from app import log
from mqtt.client import MqttClient

# The least: the CONNECT with the longest settings allow (client id and will
# topic from a 64-character MqttPrefix, 64-character user and password: 295
# bytes), the status. Adapters ask for more (their MAX_PACKET).
MAX_PACKET = 320


def prefix_of(charger):
    """MqttPrefix, or evse/<the MAC's 12 hex digits> when it is ""."""
    p = charger.manager.settings()["MqttPrefix"]
    return p or "evse/" + charger.wifi.mac().replace(":", "").lower()


def tls_context(settings):
    """The TLS context for MqttTls: trusting MqttCaCert only, or where it is
    "" the system's CAs (CPython; app.mqttsettings refuses that on a
    firmware without a CA store). Both check the broker's host name."""
    if settings["MqttCaCert"]:
        from app.tls import client_context

        return client_context(settings["MqttCaCert"])
    import ssl

    return ssl.create_default_context()


def tasks(charger):
    """(name, coroutine function) of each task to run; the client is
    ``charger.mqtt`` afterwards."""
    c = charger.manager.settings()
    modules = []
    if c["MqttHomeAssistant"]:
        from mqtt import homeassistant

        modules.append(("mqtt-ha", homeassistant))
    if c["MqttJosev"]:
        from mqtt import josev

        modules.append(("mqtt-josev", josev))
    if c["MqttEverest"] == 1:
        from mqtt import everest

        modules.append(("mqtt-everest", everest))
    elif c["MqttEverest"] == 2:
        from mqtt import boardsupport

        modules.append(("mqtt-everest", boardsupport))
    prefix = prefix_of(charger)
    status = prefix + "/status"
    # The client's two buffers hold the largest packet an adapter sends or takes.
    max_packet = MAX_PACKET
    for _, module in modules:
        max_packet = max(max_packet, getattr(module, "MAX_PACKET", 0))
    client = MqttClient(c["MqttBroker"], c["MqttPort"], prefix.replace("/", "-"),
                        user=c["MqttUser"] or None, password=c["MqttPassword"] or None,
                        will=(status, "offline", True, 1), tls=tls_context(c) if c["MqttTls"] else None,
                        max_packet=max_packet)
    client.on_connect(lambda: client.publish(status, "online", retain=True, qos=1))
    charger.mqtt = client
    out = [("mqtt", client.run)]
    for name, module in modules:
        a = module.Adapter(charger, client, prefix)
        if hasattr(a, "run"):
            out.append((name, a.run))
    log.info("mqtt: %s:%d as %s, %d-byte packets, %s" % (c["MqttBroker"], c["MqttPort"], prefix, max_packet,
                                                           ",".join(n for n, _ in modules) or "no adapter"))
    return out
