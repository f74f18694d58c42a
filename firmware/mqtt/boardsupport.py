"""EVerest board support over MQTT: the firmware as the board of an EVerest
charger (MqttEverest 2; docs/mqtt.md, "EVerest board support").

    adapter = Adapter(charger, client, "evse/garage")   # mqtt.service makes it
    await adapter.run()          # publishes what changes; commands arrive by callback

An EVerest EvseManager on a Linux controller decides the CP duty and when
power may flow; it talks to us through EVerest's ``evse_board_support``
API (AsyncAPI: everest-api/evse_board_support_API.yaml). Its topics are
EVerest's, ``everest_api/1/evse_board_support/{module_id}/...``; the module id
is the charger's prefix with its slashes made underscores (MqttPrefix
"evse/garage" is module "evse_garage", as for mqtt.everest), which EVerest's
configuration names its API module. Every
request goes through the charger interface (charger.manager's external
control), and the kernel stays the safety guard (evse.external): it clamps
the duty to the settings, limits, cable and rating, closes only in C/D with
the diode and no fault, and forgets every request when the heartbeat stops.

What EVerest sends (``<prefix>/e2m/...``):

    enable                   true/false: the charger enabled / disabled
                             (source "EVerest": a disabled one offers nothing)
    pwm_on                   duty in %: the offer (5 %: ISO 15118, offers nothing)
    cp_state_X1              no PWM, +12 V
    cp_state_F, cp_state_E   state F (-12 V); the board cannot drive 0 V,
                             so E is F too: both tell the vehicle "stop"
    allow_power_on           {"allow_power_on", "reason"}: the contactor may close
    lock, unlock             the plug lock (a socket)
    heartbeat                its counter: answered with communication_check true
    reset                    RCD reset, answered false on headers.replyTo: a
                             residual-current trip latches until a restart
    ac_switch_three_phases_while_charging, ac_overcurrent_limit, self_test
                             not supported (capabilities say so; the RCM is
                             tested at boot and at every plug-in anyway): ignored

What we publish (``<prefix>/m2e/...``): ``event`` (the CP level A-F as
read, F while we drive it; PowerOn/PowerOff when the contactor closes and
opens), ``capabilities``, ``ac_nr_of_phases`` and ``ac_pp_ampacity`` (on
connect and when they change), ``raise_error``/``clear_error`` with
EVerest's error names, ``communication_check``, and
``request_stop_transaction`` when the charger stops a transaction itself
(its web page's or WebAPI's stop, an id tag shown again: reason Local).

Changes are seen by polling the charger interface every POLL_MS (the
control tick never calls an adapter); a CP level that lasts less than that
may be missed, a shorter one than the classifier's debounce never exists.
"""

import json

from app import log
from app.aio import sleep_ms
from charger import events as E
from evse import states as S

POLL_MS = 50
# The largest packet (mqtt.service sizes the client's buffers by it):
# capabilities, 320 bytes, on a topic of up to 120 (a 64-character module
# id); a reset request's replyTo is EVerest's topic with a UUID.
MAX_PACKET = 512

# EVerest's ErrorEnum by EvseState (general errors by their cause, below);
# tuples, not dicts: their strings stay in the app's ROM, off the heap.
_ERRORS = (
    None,  # WAITING
    None,  # IDLE_A
    "MREC17EVSEContactorFault",  # RELAY_ERR_F
    "MREC8EmergencyStop",  # EPO_F
    None,  # CONNECTED_B
    None,  # CHARGE_C
    None,  # VENT_D
    "DiodeFault",  # DIODE_ERR
    "MREC14PilotFault",  # EV_ERR_E
    None,  # GENERAL_ERR: by cause
    "MREC23ProximityFault",  # PP_ERR_F
    "MREC1ConnectorLockFailure",  # LOCK_ERR_F
)
_CAUSES = (
    "VendorError",  # CAUSE_NONE
    "MREC2GroundFailure",  # CAUSE_RCM
    "Selftest",  # CAUSE_RCM_SELFTEST
    "MREC3HighTemperature",  # CAUSE_OVERTEMP
    "MREC4OverCurrentFailure",  # CAUSE_OVERCURRENT
    "MREC14PilotFault",  # CAUSE_CP_INVALID
    # No name of EVerest's fits these: vendor errors (they stop charging).
    "VendorError",  # CAUSE_TEMP_SENSOR
    "VendorError",  # CAUSE_CYCLING
)


def ampacity(pp_a):
    """ProximityPilot's ampacity of a cable rating (0: none)."""
    if pp_a >= 63:
        return "A_63_3ph_70_1ph"
    if pp_a >= 32:
        return "A_32"
    if pp_a >= 20:
        return "A_20"
    if pp_a >= 13:
        return "A_13"
    return "None"


def error_of(state, cause):
    """(EVerest's error type, sub_type, message) of a fault (EvseState, cause)."""
    if state == S.GENERAL_ERR:
        return _CAUSES[cause], S.NAMES[state], S.CAUSES[cause]
    return _ERRORS[state] or "VendorError", S.NAMES[state], S.NAMES[state]


def _duty_permille(percent):
    """pwm_on's percent as per mille, to the nearest (evse.external.asked_a
    reads it back as the ampere EVerest meant); None if not a duty."""
    if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 <= percent <= 100:
        return None
    return int(percent * 10 + 0.5)


def topic_base(prefix):
    """EVerest's topics for the charger with ``prefix``: the module id is
    the prefix with its slashes made underscores (one topic level)."""
    return "everest_api/1/evse_board_support/" + prefix.replace("/", "_") + "/"


class Adapter:
    def __init__(self, charger, client, prefix):
        self.m = charger.manager
        self.client = client
        base = topic_base(prefix)
        self._in = base + "e2m/"
        self._out = base + "m2e/"
        # What was published last (None: nothing yet, or reconnected).
        self._cp = None
        self._power = None
        self._phases = None
        self._pp = None
        self._fault = 0  # the fault (EvseState, cause) raised and not cleared
        self._cause = 0
        self.ignored = 0  # commands not understood or not supported
        self._sub = self.m.events.subscribe()
        self.x = self.m.take_external_control()  # taken at boot already (EvseManager)
        client.on_connect(self._connected)
        client.subscribe(self._in + "#", self._received, qos=1)  # a lost allow_power_on or pwm_on would stall a session

    # -- EVerest -> us ---------------------------------------------------------

    def _received(self, topic, payload):
        if not topic.startswith(self._in):
            return
        name = topic[len(self._in):]
        try:
            value = json.loads(payload) if payload else None
        except ValueError:
            value = None
            if name not in ("cp_state_X1", "cp_state_F", "cp_state_E", "lock", "unlock", "self_test"):
                self._refuse(name, "not JSON")
                return
        m = self.m
        x = self.x
        result = True
        if name == "heartbeat":
            result = x.heartbeat()
            self._publish("communication_check", True)
        elif name == "pwm_on":
            permille = _duty_permille(value)
            result = "duty must be 0 to 100 %" if permille is None else x.pwm(permille)
        elif name == "cp_state_X1":
            result = x.pwm(1000)
        elif name == "cp_state_F" or name == "cp_state_E":
            result = x.pwm(0)
        elif name == "allow_power_on":
            allow = value.get("allow_power_on") if isinstance(value, dict) else None
            result = x.allow_power_on(allow)
        elif name == "enable":
            if value is True:
                result = m.enable("EVerest")
            elif value is False:
                result = m.disable("EVerest")
            else:
                result = "enable must be true or false"
        elif name == "lock" or name == "unlock":
            result = x.lock(name == "lock")
        elif name == "reset":
            headers = value.get("headers") if isinstance(value, dict) else None
            reply = headers.get("replyTo") if isinstance(headers, dict) else None
            if isinstance(reply, str) and reply:
                self.client.publish(reply, "false")
            else:
                result = "no headers.replyTo"
        else:  # ac_switch_three_phases_while_charging, ac_overcurrent_limit, self_test
            result = "not supported"
        if result is not True:
            self._refuse(name, result)

    def _refuse(self, name, why):
        self.ignored += 1
        log.warn("everest bsp: %s ignored: %s" % (name, why))

    # -- us -> EVerest -----------------------------------------------------------

    def _publish(self, name, value):
        self.client.publish(self._out + name, json.dumps(value))

    def _connected(self, *args):
        """(Re)connected: say everything again."""
        self._cp = self._power = self._phases = self._pp = None
        self._publish("capabilities", self.capabilities())
        if self._fault:
            self._publish_error("raise_error", self._fault, self._cause)
        self.poll()

    def capabilities(self):
        m = self.m
        x = self.x
        return {
            "max_current_A_import": x.rating_a,
            "min_current_A_import": 6,
            "max_phase_count_import": m.phases(),
            "min_phase_count_import": 1,
            "max_current_A_export": 0,
            "min_current_A_export": 0,
            "max_phase_count_export": 1,
            "min_phase_count_export": 1,
            "supports_changing_phases_during_charging": False,
            "connector_type": "IEC62196Type2Socket" if x.socket else "IEC62196Type2Cable",
        }

    def _publish_error(self, topic, fault, cause):
        kind, sub, message = error_of(fault, cause)
        self._publish(topic, {"type": kind, "sub_type": sub, "message": message})

    def poll(self):
        """Publish what changed since the last poll."""
        m = self.m
        x = self.x
        while True:
            e = self._sub.poll()
            if e is None:
                break
            if e[0] == E.STOPPING_CHARGING:
                # A stop here (the WebAPI's, the web page's): EVerest runs the
                # session, so it is asked to stop it.
                self._publish("request_stop_transaction", {"reason": x.stop_reason})
        fault = m.fault
        cause = m.cause if fault else 0
        if fault != self._fault or cause != self._cause:
            if self._fault:
                self._publish_error("clear_error", self._fault, self._cause)
            if fault:
                self._publish_error("raise_error", fault, cause)
            self._fault = fault
            self._cause = cause
        cp = x.cp
        if cp != "?" and cp != self._cp:
            self._cp = cp
            self._publish("event", {"event": cp})
        power = m.charging
        if power != self._power:
            self._power = power
            self._publish("event", {"event": "PowerOn" if power else "PowerOff"})
        phases = m.phases()
        if phases != self._phases:
            self._phases = phases
            self._publish("ac_nr_of_phases", phases)
        pp = m.pp_a if x.socket else 0
        if pp != self._pp:
            self._pp = pp
            self._publish("ac_pp_ampacity", {"ampacity": ampacity(pp)})

    async def run(self):
        while True:
            self.poll()
            await sleep_ms(POLL_MS)
