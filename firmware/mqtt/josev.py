"""Josev, an ISO 15118 stack on a Linux controller, over MQTT: we are its
charging station (CS).

    adapter = Adapter(charger, client, prefix)   # subscribes; replies from the reader task
    asyncio.create_task(adapter.run())            # the updates, as the charger changes

Josev asks on ``josev/cs`` and we answer on ``cs/josev``, every message in
the envelope ``{"id", "name", "type", "data"}``, a response carrying its
request's id. Both topics are Josev's own: the MQTT prefix does not apply.

What we answer (requests):
    cs_parameters          the EVSE: its id, one AC connector, nominal voltage
    cs_status_and_limits   status code, the AC limit per phase, voltage, rcd_error
    cs_contactor_status    closed / opened / error
    stop_charging          ends the transaction (Remote), accepted or rejected

What we publish unasked (updates):
    cs_status_and_limits   whenever the status code or the limit changes: load
                           management lowering the current reaches Josev (and
                           so the car) within one control period
    cp_status              the control pilot's state (A1..F) and duty cycle
    cs_contactor_status    the contactor closing or opening

The limit is the limit arbiter's least limit (EvseManager.offer_limit_a),
the same on each phase charging (0 on the others), 0 while paused or
disabled. The adapter's task waits on the charger's event stream
(Subscriber.wait_change: the control tick touches it when the limit, the CP
level or the contactor change), so nothing is polled and the tick allocates
nothing for Josev.

The seed is inconsistent about the EVSE's key (``evse_id`` in responses,
``id`` in its update example): requests naming an EVSE are accepted with
either; what we publish says ``evse_id``, as the responses do.
"""

import json
import random

from app.aio import sleep_ms
from charger import events as E
from evse import states as S
from evse.pilot import PWM_OFF, PWM_F

REQUESTS = "josev/cs"  # Josev -> CS
UPDATES = "cs/josev"  # CS -> Josev
MAX_PACKET = 640  # the client's buffers (mqtt.service): our largest message, cs_parameters, is < 560 bytes
RETRY_MS = 100  # after the client refused an update
NETWORK_INTERFACE = "eth0"  # the interface of Josev's host that reaches the PLC modem

# cs_status_and_limits' status_code (DIN 70121 / ISO 15118 EVSEStatusCode)
NOT_READY = "evse_not_ready"
READY = "evse_ready"
SHUTDOWN = "evse_shutdown"
EMERGENCY_SHUTDOWN = "evse_emergency_shutdown"
MALFUNCTION = "evse_malfunction"

_VEHICLE_FAULTS = (S.DIODE_ERR, S.EV_ERR_E)  # the vehicle's, not ours: we are only not ready


def status_code(m):
    """The EVSEStatusCode for EvseManager ``m`` now."""
    fault = m.fault
    if fault == S.EPO_F:
        return EMERGENCY_SHUTDOWN
    if fault and fault not in _VEHICLE_FAULTS:
        return MALFUNCTION
    if fault or not m.enabled or m.state == S.WAITING:
        return NOT_READY
    if m.stopping:
        return SHUTDOWN  # the transaction ends: the car is asked to stop
    return READY


def rcd_error(m):
    return m.fault == S.GENERAL_ERR and m.cause in (S.CAUSE_RCM, S.CAUSE_RCM_SELFTEST)


def max_current(m):
    """The AC limit per phase: the arbiter's least limit on each phase charging."""
    a = m.offer_limit_a
    three = m.phases() == 3
    return {"l1": a, "l2": a if three else 0, "l3": a if three else 0}


def evse_status(m, evse_id):
    """One entry of cs_status_and_limits' ``evses``."""
    return {
        "evse_id": evse_id,
        "status_code": status_code(m),
        "ac": {
            "max_current": max_current(m),
            "nominal_voltage": m.nominal_voltage,
            "rcd_error": rcd_error(m),
        },
    }


def parameters(m, evse_id, version):
    """cs_parameters' data: one EVSE with one AC connector."""
    ac = {
        "connector_type": "AC_three_phase_core" if m.phases() == 3 else "AC_single_phase_core",
        "nominal_voltage": m.nominal_voltage,
    }
    return {
        "sw_version": version,
        "hw_version": m.charger.board["name"],
        "number_of_evses": 1,
        "parameters": [
            {
                "evse_id": evse_id,
                "supports_eim": True,  # external identification: id tags, free charging
                "network_interface": NETWORK_INTERFACE,
                "connectors": [{"id": 1, "services": {"ac": ac}}],
            }
        ],
    }


def cp_state(m):
    """The CP state as Josev names it (A1..D2, E, F; x2 while a PWM offer
    runs), or None while the level is not known yet."""
    if m.pwm_permille == PWM_F:
        return "F"  # we drive -12 V
    letter = S.CP_LETTERS[m.cp]
    if letter == "?":
        return None
    if letter in "EF":
        return letter
    return letter + ("2" if 0 < m.pwm_permille < PWM_OFF else "1")


def cp_status(m, evse_id):
    state = cp_state(m)
    if state is None:
        return None
    return {"evse_id": evse_id, "connector_id": 1, "state": state, "duty_cycle": m.pwm_permille / 10}


def contactor_status(m):
    if m.contactor_welded:
        return "error"
    return "closed" if m.contactor_closed else "opened"


def envelope(msg_id, name, kind, data):
    return json.dumps({"id": msg_id, "name": name, "type": kind, "data": data})


def _names_other_evse(data, evse_id):
    """Whether a request's data names an EVSE that is not ours (by
    ``evse_id``, or ``id`` as the seed's update example spells it)."""
    if not isinstance(data, dict):
        return False
    named = data.get("evse_id", data.get("id"))
    return named is not None and named != evse_id


class Adapter:
    def __init__(self, charger, client, prefix):
        self.charger = charger
        self.m = charger.manager
        self.client = client
        self.evse_id = self.m.settings()["DeviceName"]  # e.g. DE*ABC*E1234; prefix: unused, the topics are Josev's
        self.ignored = 0  # requests we could not read, or not ours
        self._sub = self.m.events.subscribe()
        self._run = random.getrandbits(32)  # our updates' ids differ from the last run's
        self._ids = 0
        self._shown = None  # the EVSE's status and limits last published
        self._cp = None
        self._contactor = None
        client.subscribe(REQUESTS, self._on_request)
        client.on_connect(self._connected)

    # -- requests (the client's reader task calls these) --------------------

    def _on_request(self, topic, payload):
        try:
            msg = json.loads(payload)
            msg_id = msg["id"]
            name = msg["name"]
            kind = msg["type"]
            data = msg.get("data") or {}
        except (ValueError, KeyError, TypeError, AttributeError):
            self.ignored += 1
            return
        if kind != "request" or _names_other_evse(data, self.evse_id):
            self.ignored += 1
            return
        answer = self.answer(name, data)
        if answer is None:
            self.ignored += 1
            return
        self.client.publish(UPDATES, envelope(msg_id, name, "response", answer), qos=1)

    def answer(self, name, data):
        """The response's data to request ``name``, or None for one we do not serve."""
        m = self.m
        if name == "cs_status_and_limits":
            return {"evses": [evse_status(m, self.evse_id)]}
        if name == "cs_parameters":
            return parameters(m, self.evse_id, self.charger.version)
        if name == "cs_contactor_status":
            return {"evse_id": self.evse_id, "status": contactor_status(m)}
        if name == "stop_charging":
            done = m.stop_transaction(E.REASON_REMOTE)
            return {"evse_id": self.evse_id, "status": "accepted" if done is True else "rejected"}
        return None

    # -- updates -------------------------------------------------------------

    def _connected(self):
        # Josev may have missed what changed while the link was down.
        self._shown = self._cp = self._contactor = None
        self.publish_changes()

    async def run(self):
        sub = self._sub
        while True:
            await sub.wait_change()
            while sub.poll() is not None:
                pass  # the session events say nothing Josev needs beyond the status
            while not self.publish_changes():
                await sleep_ms(RETRY_MS)  # the client's queue was full: what is new, again

    def publish_changes(self):
        """Publish the updates whose content differs from the last
        published; False if the client refused one (its queue full)."""
        m = self.m
        status = evse_status(m, self.evse_id)
        if status != self._shown and self._update("cs_status_and_limits", {"evses": [status]}):
            self._shown = status
        cp = cp_status(m, self.evse_id)
        if cp is not None and cp != self._cp and self._update("cp_status", cp):
            self._cp = cp
        contactor = contactor_status(m)
        if contactor != self._contactor and self._update(
            "cs_contactor_status", {"evse_id": self.evse_id, "status": contactor}
        ):
            self._contactor = contactor
        return self._shown == status and (cp is None or self._cp == cp) and self._contactor == contactor

    def _update(self, name, data):
        self._ids += 1
        msg_id = "%08x-0000-4000-8000-%012x" % (self._run, self._ids)  # UUID-shaped, as Josev's
        return self.client.publish(UPDATES, envelope(msg_id, name, "update", data), qos=1)
