"""EVerest's evse_manager consumer API over MQTT: we are the EvseManager an
EVerest API client (an energy manager, an app, a display) talks to.

    adapter = Adapter(charger, client, prefix)   # subscribes; replies from the reader task
    asyncio.create_task(adapter.run())            # the e2m events

Topics are ``everest_api/1/evse_manager_consumer/<module id>/...``, the
module id being the MQTT prefix with its slashes made underscores (one
topic level, as the AsyncAPI file's ``{module_id}``).

Requests (``m2e/...``), each answered on its ``headers.replyTo`` with the
reply the schema gives (a bare JSON value; no replyTo, no reply):
    get_evse          our one EVSE and its connector
    enable_disable    EvseManager.enable / disable / unassign, by source and
                      priority (EVerest's rules: 0 is highest, disable wins ties);
                      the reply is whether the charger IS enabled afterwards
    pause_charging    EvseManager.pause_charging     (true if done)
    resume_charging   EvseManager.resume_charging
    stop_transaction  EvseManager.stop_transaction(reason)
    force_unlock      EvseManager.force_unlock

Events (``e2m/...``):
    session_event     every session event of the charger's event stream
                      (charger.events), named as EVerest names them, with the
                      data the schema asks for each
    session_info      the session's state, energy, power and duration: once
                      a second during a session, else on change
    powermeter        meter 1's registers, once a second while it answers
    enforced_limits   the limit arbiter's least limit and its source: on
                      change, and every ENFORCED_EVERY_S (valid_for is twice
                      that: should we fall silent, the consumer stops)
    evse_id, hw_capabilities, supported_energy_transfer_modes,
    ac_nr_of_phases_available, ac_pp_ampacity, selected_protocol
                      retained, on (re)connection and on change
    heartbeat         a counter, with enforced_limits

Meter values: with meter 1 its import register; without one the charger's
own estimate of the session's energy (0 at SessionStarted), so that the
energy of a transaction (finished minus started) is right either way.
ErrorRaised/ErrorCleared are not session events in EVerest (they go through
its error framework, the board support API) and are not sent here.
"""

import asyncio
import json
import random
import time

from app.aio import wait_for_ms
from charger import events as E
from charger.limits import SOURCE_NAMES
from evse import states as S
from evse.pilot import MIN_CURRENT_A

ROOT = "everest_api/1/evse_manager_consumer/"
# The client's buffers (mqtt.service): our largest message, a TransactionStarted
# with a 36-character id tag and meter 1's readings, is some 700 bytes.
MAX_PACKET = 768
TICK_MS = 1000  # session_info and powermeter, during a session
ENFORCED_EVERY_S = 5

# Our events (charger.events codes) that are EVerest session events, by name.
_SESSION_EVENTS = (
    E.SESSION_STARTED, E.AUTHORIZED, E.TRANSACTION_STARTED, E.CHARGING_STARTED, E.CHARGING_PAUSED_EV,
    E.CHARGING_PAUSED_EVSE, E.STOPPING_CHARGING, E.TRANSACTION_FINISHED, E.SESSION_FINISHED,
    E.RESERVATION_START, E.RESERVATION_END, E.ENABLED, E.DISABLED, E.DEAUTHORIZED,
)
# EVerest's StopTransactionReason: ours (charger.events.REASONS) are its first 11.
_MORE_REASONS = (
    "EnergyLimitReached", "GroundFault", "LocalOutOfCredit", "MasterPass", "OvercurrentFault", "PowerQuality",
    "SOCLimitReached", "StoppedByEV", "TimeLimitReached", "Timeout", "ReqEnergyTransferRejected",
)
_ENABLE_SOURCES = ("Unspecified", "LocalAPI", "LocalKeyLock", "ServiceTechnician", "RemoteKeyLock", "MobileApp",
                   "FirmwareUpdate", "CSMS")
_AMPACITY = ((13, "A_13"), (20, "A_20"), (32, "A_32"), (63, "A_63_3ph_70_1ph"))


def timestamp(epoch_s=None):
    """RFC 3339 UTC, from the real-time clock. On a board nothing sets that
    clock yet (no NTP): its timestamps count from 2000-01-01 at power-up."""
    t = time.gmtime(time.time() if epoch_s is None else epoch_s)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % t[:6]


def new_uuid():
    """A random (version 4) UUID."""
    r = random.getrandbits
    return "%08x-%04x-4%03x-%04x-%04x%08x" % (r(32), r(16), r(12), 0x8000 | r(14), r(16), r(32))


def stop_reason(name):
    """EVerest's StopTransactionReason as ours (REASON_*); the reasons we
    do not tell apart are Other. None for no reason EVerest knows."""
    if name in E.REASONS:
        return E.REASONS.index(name)
    if name in _MORE_REASONS:
        return E.REASON_OTHER
    return None


def evse_state(m, finished=False):
    """EVerest's EvseStateEnum for EvseManager ``m`` now; ``finished``: a
    transaction of this session has ended."""
    if not m.enabled:
        return "Disabled"
    if not m.vehicle_connected:
        return "Reserved" if m.reservation else "Unplugged"
    if m.stopping:
        return "FinishedEVSE"
    if m.transaction_active:
        if m.offer_withheld:  # as EvseManager.step names the phase
            return "ChargingPausedEVSE"
        if m.contactor_closed:
            return "Charging"
        if m.offered_a and m.state == S.CONNECTED_B:
            return "ChargingPausedEV"
        return "Preparing"
    if m.authorized:
        return "Preparing"
    return "Finished" if finished else "AuthRequired"


def ampacity(amps):
    """ProximityPilot's ampacity for a cable of ``amps`` (0: none read)."""
    if amps <= 0:
        return "None"
    for a, name in _AMPACITY:
        if amps <= a:
            return name
    return _AMPACITY[-1][1]


class Adapter:
    def __init__(self, charger, client, prefix):
        self.charger = charger
        self.m = charger.manager
        self.client = client
        self.base = ROOT + prefix.replace("/", "_")
        self.evse_id = self.m.settings()["DeviceName"]
        self.ignored = 0  # requests we could not read
        self._sub = self.m.events.subscribe()
        self._session_uuid = new_uuid()
        self._start_meter = 0  # the estimate's base: the session's energy counts from 0
        self._heartbeat = 0
        self._limits_sent_ms = None
        self._shown = {}  # e2m retained topic: payload last published
        self._info = None  # session_info last published, without its timestamp
        self._info_ms = 0  # uptime it was published at
        self._finished = False  # a transaction of this session has ended
        self._unsent = None  # a session_event the client's full queue refused: sent first next time
        self._limit = None  # (amps, source) last in enforced_limits
        for name in ("get_evse", "enable_disable", "pause_charging", "resume_charging", "stop_transaction",
                     "force_unlock"):
            client.subscribe(self.base + "/m2e/" + name, self._on_request)
        client.on_connect(self._connected)

    # -- requests (the client's reader task calls this) -----------------------

    def _on_request(self, topic, payload):
        name = topic[topic.rfind("/") + 1:]
        try:
            msg = json.loads(payload)
            reply_to = (msg.get("headers") or {}).get("replyTo")
            reply = self.answer(name, msg.get("payload"))
        except (ValueError, TypeError, AttributeError, KeyError):
            self.ignored += 1
            return
        if reply is None:
            self.ignored += 1
        elif isinstance(reply_to, str) and reply_to:
            self.client.publish(reply_to, json.dumps(reply), qos=1)

    def answer(self, name, arg):
        """The reply to request ``name`` with payload ``arg``; None if malformed."""
        m = self.m
        if name == "get_evse":
            return {"id": 1, "connectors": [{"id": 1, "type": "sType2" if m.socket else "cType2"}]}
        if name == "enable_disable":
            source = arg["source"]
            who = source["enable_source"]
            state = source["enable_state"]
            priority = source["enable_priority"]
            if who not in _ENABLE_SOURCES:
                return None  # the table's entries are EVerest's sources, none other
            if state == "Enable":
                done = m.enable(who, priority)
            elif state == "Disable":
                done = m.disable(who, priority)
            elif state == "Unassigned":
                done = m.unassign(who)
            else:
                return None
            return m.enabled if done is True else None
        if name == "pause_charging":
            return m.pause_charging() is True
        if name == "resume_charging":
            return m.resume_charging() is True
        if name == "stop_transaction":
            reason = stop_reason(arg["reason"])
            if reason is None:
                return None  # not one of the schema's reasons
            return m.stop_transaction(reason) is True
        if name == "force_unlock":
            return m.force_unlock() is True
        return None

    # -- events ------------------------------------------------------------------

    def _publish(self, name, data, retain=False, qos=1):
        return self.client.publish(self.base + "/e2m/" + name, json.dumps(data), retain=retain, qos=qos)

    def _connected(self):
        self._shown = {}
        self._info = None
        self._limit = None
        self.publish_state()

    def publish_state(self):
        """The retained facts, where they changed since last published."""
        m = self.m
        three = m.phases() == 3
        facts = (
            ("evse_id", self.evse_id),
            ("hw_capabilities", {
                "max_current_A_import": m.rating_a,
                "min_current_A_import": MIN_CURRENT_A,
                "max_phase_count_import": 3 if three else 1,
                "min_phase_count_import": 3 if three else 1,
                "max_current_A_export": 0,  # no discharging
                "min_current_A_export": 0,
                "max_phase_count_export": 1,
                "min_phase_count_export": 1,
                "supports_changing_phases_during_charging": False,
                "connector_type": "IEC62196Type2Socket" if m.socket else "IEC62196Type2Cable",
            }),
            ("supported_energy_transfer_modes", ["AC_three_phase_core" if three else "AC_single_phase_core"]),
            ("ac_nr_of_phases_available", 3 if three else 1),
            ("ac_pp_ampacity", {"ampacity": ampacity(m.pp_a if m.socket and m.vehicle_connected else 0)}),
            ("selected_protocol", "IEC61851-1"),
        )
        for name, data in facts:
            if self._shown.get(name) != data and self._publish(name, data, retain=True):
                self._shown[name] = data

    def meter_value(self):
        """EVerest's Powermeter: meter 1's registers, else the estimate."""
        m = self.m
        r = m.meter_reading(1)
        out = {"timestamp": timestamp()}
        if r is not None and r[0] is not None:
            kwh, watts, amps, volts = r
            out["energy_Wh_import"] = {"total": kwh * 1000}
            if watts is not None:
                out["power_W"] = {"total": watts}
            if amps:
                out["current_A"] = {"L%d" % (i + 1): a for i, a in enumerate(amps)}
            if volts:
                out["voltage_V"] = {"L%d" % (i + 1): v for i, v in enumerate(volts)}
            out["meter_id"] = "meter1"
        else:
            out["energy_Wh_import"] = {"total": m.session.energy_wh}
            out["power_W"] = {"total": m.power_w}
        return out

    def id_token(self):
        """EVerest's ProvidedIdToken for the running transaction."""
        tag = self.m.id_tag
        if tag is None:
            return {"id_token": {"value": "FreeCharging", "type": "NoAuthorization"}, "authorization_type": "RFID"}
        return {"id_token": {"value": tag, "type": "ISO14443"}, "authorization_type": "RFID"}

    def session_event(self, code, arg):
        """The session_event payload for one of our events, or None for one
        that is not an EVerest session event."""
        if code not in _SESSION_EVENTS:
            return None
        if code == E.SESSION_STARTED:
            self._session_uuid = new_uuid()
        if code in (E.SESSION_STARTED, E.TRANSACTION_STARTED):
            self._finished = False
        elif code == E.TRANSACTION_FINISHED:
            self._finished = True
        ev = {"uuid": self._session_uuid, "timestamp": timestamp(), "connector_id": 1, "event": E.NAMES[code]}
        if code == E.SESSION_STARTED:
            ev["session_started"] = {"reason": "EVConnected", "meter_value": self.meter_value()}
        elif code == E.SESSION_FINISHED:
            ev["session_finished"] = {"meter_value": self.meter_value()}
        elif code == E.TRANSACTION_STARTED:
            ev["transaction_started"] = {"id_tag": self.id_token(), "meter_value": self.meter_value()}
        elif code == E.TRANSACTION_FINISHED:
            ev["transaction_finished"] = {"meter_value": self.meter_value(), "reason": E.REASONS[arg]}
        elif code in (E.CHARGING_STARTED, E.CHARGING_PAUSED_EV, E.CHARGING_PAUSED_EVSE):
            ev["charging_state_changed_event"] = {"meter_value": self.meter_value()}
        elif code in (E.AUTHORIZED, E.DEAUTHORIZED):
            ev["authorization_event"] = {"meter_value": self.meter_value()}
        return ev

    def session_info(self):
        m = self.m
        s = m.session
        active = m.vehicle_connected
        return {
            "state": evse_state(m, self._finished),
            "charged_energy_wh": s.energy_wh if active else 0,
            "discharged_energy_wh": 0,
            "latest_total_w": int(m.power_w),
            "session_duration_s": s.duration_s if active else 0,
            "timestamp": timestamp(),
        }

    def enforced_limits(self):
        m = self.m
        lim = m.limits
        source = SOURCE_NAMES[lim.source] if lim.source >= 0 else "None"
        phases = m.phases()
        res = {
            "ac_max_current_A": {"value": m.offer_limit_a, "source": source},
            "ac_max_phase_count": {"value": phases, "source": "Settings"},
            "total_power_W": {"value": m.offer_limit_a * m.nominal_voltage * phases, "source": source},
        }
        now = timestamp()
        return {
            "uuid": self.evse_id,
            "valid_for": 2 * ENFORCED_EVERY_S,
            "limits_root_side": res,
            "schedule": [{"timestamp": now, "limits_to_root": res}],
        }

    async def run(self):
        sub = self._sub
        clock = self.m.clock
        while True:
            try:
                await wait_for_ms(sub.wait_change(), TICK_MS)
            except asyncio.TimeoutError:
                pass
            self.step(clock.uptime_ms())

    def step(self, now_ms):
        """Publish what the event stream and the charger say now."""
        m = self.m
        sub = self._sub
        # Session events are not lost to a full queue: the refused one is
        # kept, and the rest wait in the event ring (up to charger.events.SIZE).
        while True:
            if self._unsent is not None:
                if not self._publish("session_event", self._unsent):
                    break  # again at the next wake-up (TICK_MS at the latest)
                self._unsent = None
            e = sub.poll()
            if e is None:
                break
            self._unsent = self.session_event(e[0], e[1])
        self.publish_state()
        info = self.session_info()
        stamp = info.pop("timestamp")
        if info != self._info or (m.vehicle_connected and now_ms - self._info_ms >= TICK_MS):
            shown = dict(info)
            info["timestamp"] = stamp
            # QoS 0: the next one follows within a second (or on change).
            if self._publish("session_info", info, qos=0):
                self._info = shown
                self._info_ms = now_ms
            if m.meter_reading(1) is not None:
                self._publish("powermeter", self.meter_value(), qos=0)
        limit = (m.offer_limit_a, m.limits.source)
        due = self._limits_sent_ms is None or now_ms - self._limits_sent_ms >= ENFORCED_EVERY_S * 1000
        if limit != self._limit or due:
            self._heartbeat += 1
            if self._publish("enforced_limits", self.enforced_limits()):
                self._publish("heartbeat", self._heartbeat, qos=0)
                self._limit = limit
                self._limits_sent_ms = now_ms
