"""Home Assistant over MQTT (docs/mqtt.md, "Home Assistant"): discovery,
state and commands, loaded by mqtt.service when MqttHomeAssistant is on.

Discovery: one retained config per entity under
``homeassistant/<component>/<node>/<object>/config`` (node: the prefix with
"/" made "_"), all of one device, available while ``<prefix>/status`` says
"online" (the client's last will says "offline"). Republished after every
connection, a few at a time so that the client's queue stays short.

State: one retained JSON object on ``<prefix>/state``; each entity picks its
member (``value_template``). Published when it changes, at most once every
MqttIntervalS.

Commands: ``<prefix>/set/<name>``, checked as the WebAPI checks them
(SystemConfig's validation for the charge current and auto start; EvseCtrl's
refusals for start and boost), through the charger interface. A refused
command changes nothing; why is published on ``<prefix>/error`` (JSON:
command, payload, error) and logged.
"""

import json

from app import log
from app.aio import sleep_ms, ticks_diff, ticks_ms
from app.config import SCHEMA

# The largest discovery config, with a 64-character prefix and a 32-character
# DeviceName, is some 930 bytes (tests/mqtt/test_homeassistant.py holds it).
MAX_PACKET = 1024
POLL_MS = 250  # how often the state is looked at (it is published on change only)
QUEUE_ROOM = 4  # discovery waits while more than this many messages are queued

# EvseState in words (the WebAPI's numbers, docs/webapi.md).
STATES = ("waiting", "idle", "relay error", "emergency stop", "connected", "charging", "ventilation",
          "diode error", "vehicle error", "error", "PP error", "lock error")

# (component, object id, name, state member, what else its config says).
# Member "" : the entity is a command only.
_A = dict(unit_of_measurement="A", device_class="current", state_class="measurement")
_SWITCH = dict(payload_on="ON", payload_off="OFF")
_CURRENT = SCHEMA["ChargeCurrent"]  # ("int", lowest, highest, default)
ENTITIES = (
    ("sensor", "state", "State", "state", dict(device_class="enum", options=list(STATES))),
    ("sensor", "current", "Current offered", "current", _A),
    ("sensor", "current_l1", "Current L1", "l1", _A),
    ("sensor", "current_l2", "Current L2", "l2", _A),
    ("sensor", "current_l3", "Current L3", "l3", _A),
    ("sensor", "power", "Power", "power", dict(unit_of_measurement="W", device_class="power", state_class="measurement")),
    ("sensor", "session_energy", "Session energy", "session_energy",
     dict(unit_of_measurement="kWh", device_class="energy", state_class="total_increasing")),
    ("sensor", "session_duration", "Session duration", "session_duration",
     dict(unit_of_measurement="s", device_class="duration", state_class="measurement")),
    ("sensor", "total_energy", "Total energy", "total_energy",
     dict(unit_of_measurement="kWh", device_class="energy", state_class="total_increasing")),
    ("sensor", "temperature", "Temperature", "temperature",
     dict(unit_of_measurement="°C", device_class="temperature", state_class="measurement", entity_category="diagnostic")),
    ("sensor", "wifi_signal", "WiFi signal", "wifi",
     dict(unit_of_measurement="dBm", device_class="signal_strength", state_class="measurement", entity_category="diagnostic")),
    ("sensor", "fault", "Fault", "fault", dict(entity_category="diagnostic")),
    ("number", "charge_current", "Charge current", "charge_current",
     dict(unit_of_measurement="A", device_class="current", min=_CURRENT[1], max=_CURRENT[2], step=1, mode="box")),
    ("switch", "start", "Charging", "started", _SWITCH),
    ("switch", "boost", "Boost", "boosted", _SWITCH),
    ("switch", "pause", "Pause", "paused", _SWITCH),
    ("switch", "auto_start", "Auto start", "auto_start", dict(payload_on="ON", payload_off="OFF", entity_category="config")),
)

# Commands: <prefix>/set/<object id of a number or switch>.
COMMANDS = ("charge_current", "start", "boost", "pause", "auto_start")


def _on_off(b):
    return "ON" if b else "OFF"


class Adapter:
    def __init__(self, charger, client, prefix):
        self.charger = charger
        self.m = charger.manager
        self.client = client
        self.prefix = prefix
        self.node = "".join(c if c.isalpha() or c.isdigit() or c in "_-" else "_" for c in prefix)
        self.interval_ms = self.m.settings()["MqttIntervalS"] * 1000
        self._next = len(ENTITIES)  # the next discovery config to publish
        self._last = None  # the state last published (its JSON text)
        self._last_ms = 0
        self.errors = 0  # commands refused
        client.subscribe(prefix + "/set/+", self._command)
        client.on_connect(self._connected)

    def _connected(self):
        self._next = 0  # the broker may have lost them (a restart without persistence)
        self._last = None

    async def run(self):
        while True:
            if self.client.connected:
                self._discover()
                self._publish_state()
            await sleep_ms(POLL_MS)

    # -- discovery ---------------------------------------------------------------

    def config(self, i):
        """Entity ``i``'s discovery (topic, payload: a dict)."""
        component, obj, name, member, extra = ENTITIES[i]
        p = self.prefix
        m = self.m
        c = dict(
            name=name,
            unique_id=self.node + "_" + obj,
            availability_topic=p + "/status",
            device=dict(identifiers=[self.node], name=m.settings()["DeviceName"], manufacturer="Open EVSE firmware",
                        model="EVSE-ESP32 " + self.charger.board["name"], sw_version=self.charger.version),
            state_topic=p + "/state",
            value_template="{{ value_json.%s }}" % member,
        )
        if obj in COMMANDS:
            c["command_topic"] = p + "/set/" + obj
        c.update(extra)
        return "homeassistant/%s/%s/%s/config" % (component, self.node, obj), c

    def _discover(self):
        while self._next < len(ENTITIES) and self.client.pending() <= QUEUE_ROOM:
            topic, c = self.config(self._next)
            if not self.client.publish(topic, json.dumps(c), retain=True, qos=1):
                return
            self._next += 1

    # -- state ---------------------------------------------------------------------

    def state(self):
        """The state object (a dict), as ``<prefix>/state`` carries it."""
        m = self.m
        s = m.session
        reading = m.meter_reading(1)  # (kWh, W, currents, voltages), or None without meter 1
        currents = reading[2] if reading else None
        currents = currents or (None, None, None)
        kwh = reading[0] if reading else None
        info = m.general_info()
        settings = m.settings()
        return dict(
            state=STATES[m.state],
            current=m.current_a,
            l1=currents[0],
            l2=currents[1],
            l3=currents[2],
            power=m.power_w,
            session_energy=round(s.energy_ws / 3600000, 3),
            session_duration=s.duration_s,
            total_energy=kwh,
            temperature=m.temperature_c,
            wifi=self.charger.wifi.rssi(),
            fault=info[8:] if info.startswith("System: ") else info,
            charge_current=settings["ChargeCurrent"],
            started=_on_off(m.started),
            boosted=_on_off(m.boosted),
            paused=_on_off(m.paused),
            auto_start=_on_off(settings["ChargeAutoStart"]),
        )

    def _publish_state(self):
        now = ticks_ms()
        if self._last is not None and ticks_diff(now, self._last_ms) < self.interval_ms:
            return
        text = json.dumps(self.state())
        if text != self._last and self.client.publish(self.prefix + "/state", text, retain=True):
            self._last = text
            self._last_ms = now

    # -- commands ------------------------------------------------------------------

    def _command(self, topic, payload):
        name = topic[topic.rfind("/") + 1:]
        try:
            text = str(payload, "utf-8").strip()
        except UnicodeError:
            text = None
        reason = self._do(name, text) if text is not None else "the payload is not UTF-8 text"
        if reason is not True:
            self.errors += 1
            log.warn("mqtt: %s refused: %s" % (topic, reason))
            self.client.publish(self.prefix + "/error", json.dumps(
                dict(command=name, payload=text if text is not None else "", error=reason)))

    def _do(self, name, text):
        """Carry out command ``name`` with ``text``: True, or why not."""
        m = self.m
        if name == "charge_current":
            try:
                value = float(text)
            except ValueError:
                return "ChargeCurrent: must be a number"
            if value != int(value):
                return "ChargeCurrent: must be a whole number"
            return _setting(m, "ChargeCurrent", int(value))
        if name not in COMMANDS:
            return "unknown command; known: " + ", ".join(COMMANDS)
        if text not in ("ON", "OFF"):
            return "must be ON or OFF"
        on = text == "ON"
        if name == "auto_start":
            return _setting(m, "ChargeAutoStart", on)
        if name == "start":
            if on == m.started:
                return True
            reason = m.start_refusal()
            return ("not possible now: " + reason) if reason else m.toggle_start()
        if name == "boost":
            if on == m.boosted:
                return True
            reason = m.boost_refusal()
            return ("not possible now: " + reason) if reason else m.toggle_boost()
        # pause
        if on == m.paused:
            return True
        return m.pause_charging() if on else m.resume_charging()


def _setting(m, key, value):
    """Write SystemConfig's ``key`` as the WebAPI would: True, or the first
    reason as "Key: why". The value in force already is not written again (a
    slider sends many; the flash is spared)."""
    if m.settings()[key] == value and type(m.settings()[key]) is type(value):
        return True
    errors = m.set_settings({key: value})
    for k in errors:
        return "%s: %s" % (k, errors[k])
    return True
