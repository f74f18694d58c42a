"""MQTT at run time: what app.runtime starts when MqttBroker is set
(docs/mqtt.md). Not set, this package is never imported.

    for name, task in tasks(charger):   # app.runtime runs each guarded
        ...

One client (mqtt.client) to the broker, with the last will
``<prefix>/status`` = "offline" (retained) and "online" published there
after every connection. Then the adapters switched on, and only those
imported: MqttHomeAssistant (mqtt.homeassistant), MqttJosev (mqtt.josev),
MqttEverest 1 (mqtt.everest) or 2 (mqtt.boardsupport).

An adapter is a module with a class ``Adapter(charger, client, prefix)``:
its constructor subscribes (``client.subscribe``) and registers what to
republish after a reconnection (``client.on_connect``); if it has an
``async run()``, that runs as a task of its own (restarted if it fails,
like every task but control). It steers the charger only through
``charger.manager`` (charger.manager.EvseManager).
"""

from app import log
from mqtt.client import MqttClient, default_tls


def prefix_of(charger):
    """MqttPrefix, or evse/<the MAC's 12 hex digits> when it is ""."""
    p = charger.manager.settings()["MqttPrefix"]
    return p or "evse/" + charger.wifi.mac().replace(":", "").lower()


def tasks(charger):
    """(name, coroutine function) of each task to run; the client is
    ``charger.mqtt`` afterwards."""
    c = charger.manager.settings()
    prefix = prefix_of(charger)
    status = prefix + "/status"
    client = MqttClient(c["MqttBroker"], c["MqttPort"], prefix.replace("/", "-"),
                        user=c["MqttUser"] or None, password=c["MqttPassword"] or None,
                        will=(status, "offline", True, 1), tls=default_tls() if c["MqttTls"] else None)
    client.on_connect(lambda: client.publish(status, "online", retain=True, qos=1))
    charger.mqtt = client
    adapters = []
    if c["MqttHomeAssistant"]:
        from mqtt import homeassistant

        adapters.append(("mqtt-ha", homeassistant.Adapter(charger, client, prefix)))
    if c["MqttJosev"]:
        from mqtt import josev

        adapters.append(("mqtt-josev", josev.Adapter(charger, client, prefix)))
    if c["MqttEverest"] == 1:
        from mqtt import everest

        adapters.append(("mqtt-everest", everest.Adapter(charger, client, prefix)))
    elif c["MqttEverest"] == 2:
        from mqtt import boardsupport

        adapters.append(("mqtt-everest", boardsupport.Adapter(charger, client, prefix)))
    out = [("mqtt", client.run)]
    for name, a in adapters:
        if hasattr(a, "run"):
            out.append((name, a.run))
    log.info("mqtt: %s:%d as %s, %s" % (c["MqttBroker"], c["MqttPort"], prefix,
                                          ",".join(n for n, _ in adapters) or "no adapter"))
    return out
