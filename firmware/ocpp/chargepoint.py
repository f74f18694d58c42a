"""OCPP 1.6J charge point, Core profile: the adapter between a central
system and the charger interface (charger.manager.EvseManager).

Two tasks:

- ``_record`` turns the charger's session events into OCPP: a transaction
  that starts, samples of its meter values and its end are written to the
  journal (ocpp.journal, on flash) *before* anything is sent, and the
  connector's status is noted. It runs whether or not the central system is
  reachable, so charging goes on, and is billed later, through a lost link.
- ``_link`` keeps the connection: connect (ocpp.ws, the security profile's
  URL and credentials), BootNotification until Accepted, then the journal
  replayed oldest first (one CALL outstanding at a time, each message
  retried TransactionMessageAttempts times TransactionMessageRetryInterval
  apart), StatusNotification on change, Heartbeat when nothing else was
  sent for HeartbeatInterval, and the central system's CALLs answered. A
  lost link is retried with Eaton's random backoff.

Timers (HeartbeatInterval, MeterValueSampleInterval, ClockAlignedDataInterval,
ConnectionTimeOut, TransactionMessageRetryInterval, a Pending boot's
interval, WebSocketPingInterval) run on the charger's clock, so the
simulator's virtual time moves them as it moves the control loop
(``step()`` runs as time advances); what waits on the network (an answer,
a reconnect) runs on real time.

Times: the charger has no clock of its own worth sending. The central
system's ``currentTime`` (BootNotification, Heartbeat) sets it; records
made before that carry their uptime and are dated when they are sent (those
of a start of the firmware that ended before it knew the time as if made
just before this start). Each start's dating is kept on flash, so that a
message sent again after a restart carries the time it had (_dated).

Energy: ``meterStart``/``meterStop`` and Energy.Active.Import.Register are
meter 1's import counter when a meter reads it; without one, the last
register recorded plus the session's estimated energy, so that the register
never goes back (that last register is kept on flash with the open
transaction's note). One or the other for a whole transaction, never both:
one that starts before meter 1's first reading (at power-up, with a vehicle
still plugged in) is journalled when that reading comes (up to MeterStaleS
later, then on the estimate).
"""

import asyncio
import json
import os

from app import log
from app.atomic import read_json, write_atomic
from app.aio import sleep_ms, wait_for_ms
from evse.compat import ticks_diff  # of the charger clock's ticks (2^30 period, as the control loop's)
from charger import events as E
from evse import states as S
from ocpp import timefmt, ws
from ocpp.authcache import AuthCache
from ocpp.config import OcppConfig, settings_hooks
from ocpp.journal import Journal, JournalFull

CALL = 2
RESULT = 3
ERROR = 4
START = "StartTransaction"
STOP = "StopTransaction"
METER = "MeterValues"
CONNECTOR = 1
ANSWER_MS = 30000  # how long a CALL of ours waits for its answer

# Configuration values this charger cannot honour (ChangeConfiguration
# answers Rejected): the kernel ends a session when the vehicle unplugs, and
# releases a socket's lock then.
_CANNOT = dict(
    StopTransactionOnEVSideDisconnect=("false", "a transaction ends when the vehicle unplugs"),
    UnlockConnectorOnEVSideDisconnect=("false", "the socket is unlocked when the vehicle unplugs"),
)

# OCPP ChargePointErrorCode of a fault (evse.states), for StatusNotification.
_ERROR_CODES = {
    S.RELAY_ERR_F: "PowerSwitchFailure",
    S.EPO_F: "OtherError",
    S.DIODE_ERR: "EVCommunicationError",
    S.EV_ERR_E: "EVCommunicationError",
    S.GENERAL_ERR: "InternalError",
    S.PP_ERR_F: "OtherError",
    S.LOCK_ERR_F: "ConnectorLockFailure",
}


class CallError(Exception):
    """A CALL of ours got no answer: offline, the link lost, or no answer in time."""


class CallRefused(CallError):
    """The central system answered a CALL of ours with a CALLERROR: it is
    there, and said no to this message (the link stays up)."""


class ChargePoint:
    def __init__(self, charger, journal_path="ocpp.jnl", config_path="ocpp.json", open_path="ocpp.tx",
                 cache_path="ocpp.auth", dates_path="ocpp.dates", list_path="ocpp.list",
                 profiles_path="ocpp.prof"):
        self.charger = charger
        self.m = charger.manager
        info = dict(ModelId=charger.board.get("product_type", ""), VendorId="open-evse",
                    SerialNumber=charger.wifi.mac().replace(":", ""))
        self.config = OcppConfig(config_path, settings_hooks(_Settings(self.m), info),
                                 profiles="Core,FirmwareManagement,LocalAuthListManagement,RemoteTrigger,Reservation,"
                                          "SmartCharging")
        self.journal = Journal(journal_path)
        self.cache = AuthCache(cache_path)
        self.list_path = list_path
        self._list = None  # the Local Authorization List (ocpp.locallist), once needed
        self.profiles_path = profiles_path
        self._smart = None  # the charging profiles applied (ocpp.smartcharging), once there are any
        # The transaction that runs, on flash ({"ref": its Start's seq, "wh":
        # the register when last sampled}): one that was running when the
        # charger lost power is stopped when it is back (_recover, last).
        self.open_path = open_path
        self.dates_path = dates_path
        self.clock = charger.clock  # ticks: real, or the simulator's virtual time
        self.sub = self.m.events.subscribe()
        self.ws = None
        self.accepted = False
        self.epoch_at = None  # (epoch s, uptime ms) of the last time sync
        self.status = None  # the connector status to report, and the last reported
        self.reported = None
        self.tx_ref = None  # the journal seq of the running transaction's Start
        # A transaction that waits for meter 1's first reading to be journalled:
        # since when (clock ticks), its Start's time, and once over its Stop's (reason, time).
        self._pending = None
        self._pending_when = None
        self._pending_stop = None
        self._by_meter = False  # the running transaction's energy is meter 1's register (else the estimate)
        self._last_wh = 0  # the register of the last Start or Stop recorded (on flash in open_path)
        self._base_wh = 0  # an estimated transaction's register: this plus the session's energy
        self._ids = 0
        self._waiting = None  # (message id, asyncio.Event, [answer]) of our outstanding CALL
        self._sent_ms = self.clock.ticks()  # when we last sent a CALL (Heartbeat when idle)
        self._sample_ms = self.clock.ticks()  # when the running transaction was last sampled
        self._slot = None  # the clock-aligned interval (epoch s // ClockAlignedDataInterval) last sampled
        self._auth_at = None  # ticks of an authorization still waiting for its vehicle (ConnectionTimeOut)
        self._availability = None  # "Inoperative"/"Operative" scheduled until the transaction ends
        self.reserved_parent = None  # the parentIdTag of the reservation that holds (ocpp.reservation)
        self.reservation_used = None  # the id of the reservation the waiting authorization consumed
        self.triggered = []  # (message, connectorId) a TriggerMessage asked for, to send (ocpp.trigger)
        # What Firmware Management and Eaton's DataTransfer hold (ocpp.jobs), once
        # one is used: one attribute, not one each (heap: the instance's dict).
        self.jobs = None
        self.wake = asyncio.Event()
        self._one_call = asyncio.Lock()  # one CALL of ours outstanding at a time
        self.m.token_validator = self._validate
        self.link_lost = False
        self._finished = False  # a transaction ended and its vehicle is still there
        self._phase = None  # the last of ChargingStarted / ChargingPausedEV / ChargingPausedEVSE
        # Which start of the firmware a record without a time was made in.
        self.boot_id = int.from_bytes(os.urandom(3), "big")
        self._recover()
        self.smart(False)  # profiles on flash limit the charger from the start
        if self.m.transaction_active:
            # It started before this task subscribed (the control loop runs
            # first after a restart, and a vehicle still plugged in starts at once).
            self._on_event(E.TRANSACTION_STARTED, 0)

    # -- time ------------------------------------------------------------------

    def _uptime(self):
        return self.charger.clock.uptime_ms()

    def _sync(self, text):
        t = timefmt.parse(text) if isinstance(text, str) else None
        if t is not None:
            self.epoch_at = (t, self._uptime())

    def _now(self, uptime=None):
        """The time now (or at ``uptime`` ms, this boot) as OCPP text, or None."""
        if self.epoch_at is None:
            return None
        t, at = self.epoch_at
        since = (self._uptime() if uptime is None else uptime) - at
        return timefmt.format(t + since // 1000, since % 1000)

    def _dated(self, boot, uptime):
        """The time of a record made ``uptime`` ms into start ``boot`` of
        the firmware before the time was known (None while it is not).

        A start's dating is written to flash (``dates_path``) before the
        first of its records goes out, so that one sent again after a
        restart (its answer lost) carries the time it had: a central system
        recognises a StartTransaction sent again by its time (and connector,
        idTag, meterStart). This start is dated by the clock; an earlier one
        that never learnt the time as if it made its first record sent 1 s
        before this start began (its records keep their order)."""
        if self.epoch_at is None:
            return None
        dates = read_json(self.dates_path).get("boots", [])
        for b, base in dates:
            if b == boot:
                break
        else:
            t, at = self.epoch_at
            base = t * 1000 - at  # epoch ms at this start's uptime 0
            if boot != self.boot_id:
                base -= 1000 + uptime
            dates = (dates + [[boot, base]])[-8:]  # the starts that can still have records: a few
            write_atomic(self.dates_path, json.dumps({"boots": dates}))
        ms = base + uptime
        return timefmt.format(ms // 1000, ms % 1000)

    # -- what the charger does, recorded -------------------------------------------

    def _register_wh(self):
        """The energy register: meter 1's import counter, or the session's
        estimate. In a transaction whichever its Start had, never one then
        the other (the counter of a meter read late is not an energy this
        transaction took)."""
        s = self.m.session
        if s.reading_wh >= 0 and (self._by_meter or self.tx_ref is None):
            return s.reading_wh
        return self._last_wh if self.tx_ref is None else self._base_wh + s.energy_wh

    def _meter_awaited(self):
        """True while a transaction just started should wait for meter 1's
        first reading (after a power-up a vehicle still plugged in starts
        before the meter has been polled): up to MeterStaleS, after which
        the meter counts as absent and the estimate is the register."""
        c = self.charger.config
        return self.m.session.reading_wh < 0 and 1 <= c["Meter1Type"] <= 6 and \
            ticks_diff(self.clock.ticks(), self._pending) < c["MeterStaleS"] * 1000

    def _when(self):
        """A record's time: the time if known, else this boot's uptime."""
        t = self._now()
        return {"timestamp": t} if t else {"uptime": self._uptime(), "boot": self.boot_id}

    def _connector_status(self):
        m = self.m
        if m.fault:
            return "Faulted"
        if not m.enabled:
            return "Unavailable"
        if m.reservation is not None and not m.connected:
            return "Reserved"
        if not m.connected:
            return "Preparing" if m.authorized else "Available"
        if m.transaction_active:
            if m.stopping:
                return "Finishing"
            if m.charging or self._phase == E.CHARGING_STARTED:
                return "Charging"
            if self._phase == E.CHARGING_PAUSED_EVSE:
                return "SuspendedEVSE"
            return "SuspendedEV"
        return "Finishing" if self.tx_ref is None and self._finished else "Preparing"

    def _on_event(self, code, arg):
        enabled = self.config.value("EnabledDataTransfer")
        if enabled and code in (E.TRANSACTION_STARTED, E.TRANSACTION_FINISHED):
            from ocpp import eaton

            eaton.on_event(self, code, arg, enabled)
        if code == E.TRANSACTION_STARTED:
            self._auth_at = None
        if code in (E.CHARGING_STARTED, E.CHARGING_PAUSED_EV, E.CHARGING_PAUSED_EVSE):
            self._phase = code
        elif code == E.SESSION_STARTED:
            self._finished = False
        elif code == E.AUTHORIZED:
            self._auth_at = self.clock.ticks()
        elif code == E.DEAUTHORIZED:
            self._auth_at = None
            self.reservation_used = None
        elif code == E.TRANSACTION_STARTED and self.tx_ref is None and \
                (self._pending is None or self._pending_stop is not None):
            if self._pending is not None:
                self._resolve()  # an earlier one, over before meter 1 answered: on the estimate
            self._pending = self.clock.ticks()
            self._pending_when = self._when()
            if not self._meter_awaited():
                self._resolve()
        elif code == E.TRANSACTION_FINISHED and (self.tx_ref is not None or self._pending is not None):
            self._finished = True
            if self._pending is not None:
                # Journalled with meter 1's first reading (_record), if that is still awaited.
                self._pending_stop = (E.REASONS[arg], self._when())
                if not self._meter_awaited():
                    self._resolve()
            else:
                self._stop(E.REASONS[arg])
            if self._availability:
                self._apply_availability(self._availability)
        elif code == E.SESSION_FINISHED:
            self._finished = False

    def _resolve(self):
        """Journal the pending transaction's Start, and its Stop if it is
        over, with meter 1's register if it has been read by now, else
        with the estimate."""
        stop = self._pending_stop
        self._pending = self._pending_stop = None
        self._start(self._pending_when)
        if stop is not None and self.tx_ref is not None:
            self._stop(stop[0], when=stop[1])
        elif stop is None and self.tx_ref is not None:
            self.m.start_recorded()  # the running transaction's: its vehicle may draw now

    def _start(self, when):
        """Journal the running transaction's Start (its meterStart is known now)."""
        self._by_meter = self.m.session.reading_wh >= 0
        self._base_wh = self._last_wh
        payload = {"connectorId": CONNECTOR, "idTag": self.m.id_tag or "FREE", "meterStart": self._register_wh()}
        if self.reservation_used is not None:
            payload["reservationId"] = self.reservation_used
            self.reservation_used = None
        payload.update(when)
        try:
            self.tx_ref = self.journal.append(START, payload)
        except JournalFull:  # it could not be billed: it does not run
            log.warn("ocpp: journal full, transaction refused")
            self.m.stop_transaction(E.REASON_OTHER)
            return
        self._sample_ms = self.clock.ticks()
        self._note_open(payload["meterStart"])

    def _note_open(self, wh):
        """The running transaction on flash, with its register now."""
        self._last_wh = wh
        note = {"ref": self.tx_ref, "wh": wh}
        if not self._by_meter:
            note["est"] = 1  # the estimate: not to be compared with meter 1's counter after a restart
        write_atomic(self.open_path, json.dumps(note))

    def _stop(self, reason, wh=None, when=None):
        """Journal the running transaction's Stop: the transaction is over
        for the central system, whatever the charger does next."""
        payload = {"ref": self.tx_ref, "meterStop": self._register_wh() if wh is None else wh, "reason": reason}
        payload.update(when or self._when())
        self.journal.append(STOP, payload)
        self.tx_ref = None
        self._phase = None
        # No transaction open; the register it ended at, for the next one on the estimate.
        self._last_wh = payload["meterStop"]
        write_atomic(self.open_path, json.dumps({"wh": self._last_wh}))

    def _recover(self):
        """A transaction left open by a power cut (or a crash) is stopped:
        PowerLoss, at the last register reading known (the session's energy
        since is lost with the RAM; meter 1's counter is not)."""
        left = read_json(self.open_path)
        self._last_wh = left.get("wh", 0)
        if "ref" not in left:
            return
        self.tx_ref = left["ref"]
        wh = left.get("wh", 0)
        if "est" not in left and self.m.session.reading_wh >= wh:
            wh = self.m.session.reading_wh
        log.warn("ocpp: transaction %d was open at power-up: stopped (PowerLoss)" % self.tx_ref)
        self._stop("PowerLoss", wh)

    def _values(self, wanted, context=None):
        """The sampled values of the measurands named in ``wanted`` (a
        MeterValues...Data key's value), in its order. Meter 1's readings
        where it has them; else the charger's estimates (see the module's
        docstring for energy; Voltage is then the board's nominal voltage)."""
        m = self.m
        out = []
        for name in wanted.split(","):
            if name == "Energy.Active.Import.Register":
                v, unit = self._register_wh(), "Wh"
            elif name == "Power.Active.Import":
                v, unit = m.power_w, "W"
            elif name == "Current.Import":
                v, unit = m.current_a, "A"
            elif name == "Current.Offered":
                v, unit = m.offered_a, "A"
            elif name == "Voltage":
                volts, measured = m.voltage_v
                v, unit = ("%.1f" % volts if measured else volts), "V"
            else:
                continue  # "" (nothing configured)
            value = {"value": str(v), "measurand": name, "unit": unit}
            if context:
                value["context"] = context
            out.append(value)
        return out

    def _sample(self):
        """A MeterValues record of the running transaction (Sample.Periodic,
        the default context)."""
        payload = {"ref": self.tx_ref, "sampledValue": self._values(self.config.value("MeterValuesSampledData"))}
        payload.update(self._when())
        self.journal.append(METER, payload)
        self._note_open(self._register_wh())

    def _aligned(self):
        """At every whole ClockAlignedDataInterval of the day (the time the
        central system gave: 00:00, 00:15, ... for 900 s), a MeterValues of
        MeterValuesAlignedData (Sample.Clock), in a transaction or not."""
        interval = self.config.value("ClockAlignedDataInterval")
        wanted = self.config.value("MeterValuesAlignedData")
        if not interval or not wanted or self.epoch_at is None:
            self._slot = None
            return
        t, at = self.epoch_at
        slot = (t + (self._uptime() - at) // 1000) // interval
        last, self._slot = self._slot, slot
        if last is None or slot <= last:  # the first boundary is the next one; a clock set back waits
            return
        payload = {"sampledValue": self._values(wanted, "Sample.Clock"),
                   "timestamp": timefmt.format(slot * interval)}
        if self.tx_ref is not None:
            payload["ref"] = self.tx_ref
        self.journal.append(METER, payload)

    def step(self):
        """What the charger did since the last step, recorded; timers that
        are due, run. Called by the recording task (on every session event,
        and every second) and, in the simulator's virtual time, as time
        advances. Synchronous: it never waits."""
        ev = self.sub.poll()
        while ev is not None:
            self._on_event(ev[0], ev[1])
            ev = self.sub.poll()
        if self._pending is not None and not self._meter_awaited():
            self._resolve()
        now = self.clock.ticks()
        interval = self.config.value("MeterValueSampleInterval") * 1000
        if self.tx_ref is not None and interval and ticks_diff(now, self._sample_ms) >= interval:
            self._sample_ms = now
            self._sample()
        self._aligned()
        if self._auth_at is not None and ticks_diff(now, self._auth_at) >= \
                self.config.value("ConnectionTimeOut") * 1000:
            self._auth_at = None
            if not self.m.transaction_active:
                log.info("ocpp: no vehicle within ConnectionTimeOut: authorization withdrawn")
                self.m.withdraw_authorization()
        if self._smart is not None:
            self._smart.step(self)
        self.status = self._connector_status()
        self.wake.set()

    async def _record(self):
        while True:
            self.step()
            try:
                await wait_for_ms(self.sub.wait(), 1000)
            except asyncio.TimeoutError:
                pass

    # -- the link ------------------------------------------------------------------------

    async def call(self, action, payload):
        """Send a CALL and wait for its answer: the payload, or CallError."""
        if self.ws is None or self.link_lost:
            raise CallError("offline")
        async with self._one_call:
            return await self._call(action, payload)

    async def _call(self, action, payload):
        self._ids += 1
        mid = str(self._ids)
        done = asyncio.Event()
        self._waiting = (mid, done, [None])
        await self.ws.send(json.dumps([CALL, mid, action, payload]))
        self._sent_ms = self.clock.ticks()
        try:
            await wait_for_ms(done.wait(), ANSWER_MS)
        except asyncio.TimeoutError:
            raise CallError("no answer to %s" % action)
        finally:
            answer = self._waiting[2][0]
            self._waiting = None
        if answer is None:
            raise CallError("connection lost")
        if answer[0] == ERROR:
            raise CallRefused("%s: %s" % (answer[2], answer[3]))
        return answer[2]

    async def _reader(self):
        try:
            await self._read()
        except Exception as e:  # the link is gone, or a peer that sends no JSON
            log.warn("ocpp: reading: %s" % e)
        finally:
            self.link_lost = True
            if self._waiting is not None:
                self._waiting[1].set()
            self.wake.set()

    async def _read(self):
        while True:
            msg = json.loads(await self.ws.recv())
            if msg[0] == CALL:
                try:
                    result = self._handle(msg[2], msg[3])
                    out = [RESULT, msg[1], result]
                except CallError as e:
                    out = [ERROR, msg[1], "NotImplemented" if "unknown" in str(e) else "FormationViolation", str(e), {}]
                except Exception as e:  # a bug here must not end the link
                    log.error("ocpp: %s failed" % msg[2], e)
                    out = [ERROR, msg[1], "InternalError", type(e).__name__, {}]
                await self.ws.send(json.dumps(out))
                self.wake.set()
            elif self._waiting is not None and msg[1] == self._waiting[0]:
                self._waiting[2][0] = msg
                self._waiting[1].set()

    def boot_payload(self):
        return {"chargePointVendor": "open-evse", "chargePointModel": self.charger.board.get("product_type", "evse"),
                "firmwareVersion": self.charger.version}

    async def _boot(self):
        while True:
            r = await self.call("BootNotification", self.boot_payload())
            self._sync(r.get("currentTime"))
            interval = r.get("interval", 0)
            if r.get("status") == "Accepted":
                if interval > 0:
                    self.config.stored["HeartbeatInterval"] = interval
                self.accepted = True
                return
            await self._pause((interval if interval > 0 else 60) * 1000)

    async def _flush(self):
        """Send the journal, oldest first; False when a message must wait for its retry."""
        j = self.journal
        while True:
            first = j.first()
            if first is None:
                return True
            seq, action, payload = first
            try:
                answer = await self.call(action, self._wire(action, payload))
            except CallError as e:
                tries = j.attempted(seq)
                log.warn("ocpp: %s not confirmed (%s), attempt %d" % (action, e, tries))
                if tries >= self.config.value("TransactionMessageAttempts"):
                    j.confirm(seq)  # given up, as OCPP 1.6 section 4.10 says
                    continue
                await self._pause(self.config.value("TransactionMessageRetryInterval") * 1000 * tries)
                return False
            # A Start's id and its confirmation go to flash as one record.
            j.confirm(seq, answer.get("transactionId", 0) if action == START else None)
            if action == START and payload.get("idTag") != "FREE":
                self._remember(payload["idTag"], answer.get("idTagInfo"))

    def _wire(self, action, payload):
        """A journal record as the central system gets it."""
        out = dict(payload)
        ref = out.pop("ref", None)
        if ref is not None:
            tx = self.journal.transaction_id(ref)
            out["transactionId"] = tx if tx is not None else 0
        uptime = out.pop("uptime", None)
        boot = out.pop("boot", None)
        if "timestamp" not in out:
            out["timestamp"] = self._dated(boot, uptime) or timefmt.format(0)
        if action == STOP and "Energy.Active.Import.Register" in self.config.value("StopTxnSampledData"):
            out["transactionData"] = [{"timestamp": out["timestamp"], "sampledValue": [
                {"value": str(out["meterStop"]), "context": "Transaction.End",
                 "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]
        if action == METER:
            tx = out.get("transactionId")
            out = {"connectorId": CONNECTOR,
                   "meterValue": [{"timestamp": out["timestamp"], "sampledValue": out["sampledValue"]}]}
            if tx is not None:  # clock-aligned values outside a transaction have none
                out["transactionId"] = tx
        return out

    async def _session(self):
        self.reported = None  # told again after every reconnect
        if not self.accepted:  # once per power-up
            await self._boot()
        while not self.link_lost:
            # The transaction's messages first: its status follows them.
            if not await self._flush():
                continue
            if self.triggered:  # after their TriggerMessage's answer, and after the journal
                from ocpp import trigger

                await trigger.send(self)
            if self.jobs and self.jobs.get("vendor"):
                from ocpp import eaton

                await eaton.send(self)
            # A CALLERROR to these is logged and not repeated: the next
            # change or interval sends the next one. (No answer at all ends
            # the link: it is likely dead.)
            if self.status != self.reported:
                status = self.status
                fault = self.m.fault
                try:
                    await self.call("StatusNotification", {"connectorId": CONNECTOR, "status": status,
                                                           "errorCode": _ERROR_CODES.get(fault, "NoError")})
                except CallRefused as e:
                    log.warn("ocpp: StatusNotification %s refused: %s" % (status, e))
                self.reported = status
            if ticks_diff(self.clock.ticks(), self._sent_ms) >= self.config.value("HeartbeatInterval") * 1000:
                try:
                    r = await self.call("Heartbeat", {})
                    self._sync(r.get("currentTime"))
                except CallRefused as e:
                    log.warn("ocpp: Heartbeat refused: %s" % e)
            self.wake.clear()
            try:
                await wait_for_ms(self.wake.wait(), 1000)
            except asyncio.TimeoutError:
                pass

    async def _link(self):
        c = self.charger.config
        c_ = self.config
        backoff = ws.Backoff(c_.value("RetryBackoffWaitMinimum"), c_.value("RetryBackoffRandomRange"),
                             c_.value("RetryRepeatTimes"))
        while True:
            try:
                url, auth, ca = ws.for_profile(c["OcppSecurityProfile"], c["OcppEndpoint"], c["OcppBoxId"],
                                               c["OcppAuthKey"], c["OcppCaCert"])
                self.ws = await ws.connect(url, auth=auth, ca=ca)
                self.ws.ping_interval_s = c_.value("WebSocketPingInterval")
                if self.clock.virtual:  # the simulator's: pings at the interval of the charger's time
                    self.ws.clock = self.clock.ticks
                backoff.reset()
                self.link_lost = False
                log.info("ocpp: connected to %s" % url)
                reader = asyncio.create_task(self._reader())
                try:
                    await self._session()
                finally:
                    reader.cancel()
            except (OSError, ws.WsError, CallError, ValueError) as e:
                log.warn("ocpp: link down: %s" % e)
            if self.ws is not None:
                try:
                    await self.ws.close()
                except Exception:
                    pass
                self.ws = None
            if self._waiting is not None:
                self._waiting[1].set()
            await sleep_ms(int(backoff.next_s() * 1000))

    def summary(self):
        """The link as the simulator's control API shows it (GET /sim/v1/Ocpp)."""
        connected = self.ws is not None and not self.link_lost and self.accepted
        due = ticks_diff(self.clock.ticks(), self._sent_ms) >= self.config.value("HeartbeatInterval") * 1000
        busy = self._waiting is not None or len(self.journal) > 0 or self.status != self.reported or due or \
            bool(self.triggered) or bool(self.jobs and self.jobs.get("vendor"))
        return {"Connected": connected, "Journal": len(self.journal), "Busy": busy, "Status": self.reported}

    async def _pause(self, ms):
        """Wait ``ms`` of the charger's clock (virtual time moves only when
        the simulator advances it), or until the link is lost."""
        until = self.clock.ticks()
        while not self.link_lost:
            left = ms - ticks_diff(self.clock.ticks(), until)
            if left <= 0:
                return
            self.wake.clear()
            try:
                await wait_for_ms(self.wake.wait(), left if left < 1000 else 1000)
            except asyncio.TimeoutError:
                pass

    async def run(self):
        # Files named here, not as module constants (heap: this module's dict).
        try:
            os.stat("factory.rst")  # ocpp.eaton.FACTORY_FLAG: a FactoryReset to carry out at this start
            from ocpp import eaton

            eaton.factory_reset(self)
            return
        except OSError:
            pass
        try:
            os.stat("ocpp.fw")  # ocpp.firmware.FILE: an UpdateFirmware a restart interrupted, or whose restart this is
            from ocpp import firmware

            firmware.start(self)
        except OSError:
            pass
        await asyncio.gather(self._record(), self._link())

    # -- the central system's CALLs ---------------------------------------------------------

    def _handle(self, action, p):
        m = self.m
        if action == "RemoteStartTransaction":
            tag = p.get("idTag")
            if not isinstance(tag, str) or p.get("connectorId", CONNECTOR) != CONNECTOR:
                return {"status": "Rejected"}
            return {"status": "Accepted" if self._authorize(tag) is True else "Rejected"}
        if action == "RemoteStopTransaction":
            if self.tx_ref is None or p.get("transactionId") != self.journal.transaction_id(self.tx_ref):
                return {"status": "Rejected"}
            return {"status": "Accepted" if m.stop_transaction(E.REASON_REMOTE) is True else "Rejected"}
        if action == "Reset":
            kind = p.get("type")
            if kind not in ("Soft", "Hard"):
                raise CallError("type must be Soft or Hard")
            if self._pending is not None:
                self._resolve()
            if self.tx_ref is not None:
                # Journalled now: the restart comes before the contactor
                # would report the transaction finished.
                m.stop_transaction(E.REASON_SOFT_RESET if kind == "Soft" else E.REASON_HARD_RESET)
                self._stop(kind + "Reset")
            m.reset()
            return {"status": "Accepted"}
        if action == "ChangeAvailability":
            kind = p.get("type")
            if kind not in ("Inoperative", "Operative") or p.get("connectorId") not in (0, CONNECTOR):
                return {"status": "Rejected"}
            if self.tx_ref is not None and kind == "Inoperative":
                self._availability = kind
                return {"status": "Scheduled"}
            self._apply_availability(kind)
            return {"status": "Accepted"}
        if action == "GetConfiguration":
            known, unknown = self.config.get(p.get("key"))
            if [k for k in unknown if k in ("FactoryReset", "NetworkStatus", "RSSI")]:
                from ocpp import eaton  # Eaton's action keys: answered when named, never listed

                known += [eaton.get(self, k) for k in unknown if k in eaton.ACTION_KEYS]
                unknown = [k for k in unknown if k not in eaton.ACTION_KEYS]
            answer = {"configurationKey": known}
            if unknown:
                answer["unknownKey"] = unknown
            return answer
        if action == "ChangeConfiguration":
            key, value = p.get("key"), p.get("value")
            if not isinstance(key, str) or not isinstance(value, str):
                raise CallError("key and value must be strings")
            if key in ("FactoryReset", "NetworkStatus", "RSSI"):  # Eaton's action keys
                from ocpp import eaton

                return {"status": eaton.change(self, key, value)}
            cannot = _CANNOT.get(key)
            if cannot and value.lower() == cannot[0]:
                log.info("ocpp: %s=%s rejected: %s" % (key, value, cannot[1]))
                return {"status": "Rejected"}
            return {"status": self.config.change(key, value)}
        if action == "ClearCache":
            self.cache.clear()
            return {"status": "Accepted"}
        if action in ("SendLocalList", "GetLocalListVersion"):
            from ocpp import locallist  # imported when first asked (heap)

            return locallist.handle(self, action, p)
        if action in ("ReserveNow", "CancelReservation"):
            from ocpp import reservation  # imported when first asked (heap)

            return (reservation.reserve_now if action == "ReserveNow" else reservation.cancel)(self, p)
        if action in ("SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule"):
            from ocpp import smartcharging  # imported when first asked (heap)

            return smartcharging.handle(self, action, p)
        if action == "TriggerMessage":
            from ocpp import trigger  # imported when first asked (heap)

            return trigger.request(self, p)
        if action == "DataTransfer":
            from ocpp import eaton

            return eaton.incoming(p)
        if action == "UpdateFirmware":
            from ocpp import firmware  # imported when first asked (heap)

            return firmware.update(self, p)
        if action == "GetDiagnostics":
            from ocpp import diagnostics  # imported when first asked (heap)

            return diagnostics.request(self, p)
        if action == "UnlockConnector":
            if p.get("connectorId") != CONNECTOR:
                return {"status": "NotSupported"}
            done = m.force_unlock()
            return {"status": "Unlocked" if done is True else "NotSupported"}
        raise CallError("unknown action %s" % action)

    def _epoch(self):
        """The time now in epoch seconds, or None if not known yet."""
        if self.epoch_at is None:
            return None
        t, at = self.epoch_at
        return t + (self._uptime() - at) // 1000

    def _remember(self, id_tag, info):
        if self.config.value("AuthorizationCacheEnabled"):
            self.cache.put(id_tag, info)

    async def _validate(self, id_tag):
        """An id tag shown at the charger may charge if ``tag_info`` says
        Accepted; while the connector is reserved for another tag, only
        through the reservation's parentIdTag (ocpp.reservation)."""
        held = self.m.reservation
        if held is not None and held[1] != id_tag:
            from ocpp import reservation

            await reservation.other_tag(self, id_tag)
            return
        status = (await self.tag_info(id_tag))[0]
        if status == "Accepted":
            self._authorize(id_tag)
        else:
            log.info("ocpp: id tag %s not authorized: %s" % (id_tag, status))

    async def tag_info(self, id_tag):
        """(status, parentIdTag or None) of an id tag: what the central
        system says (Authorize). The Local Authorization List (when
        LocalAuthListEnabled) and then the authorization cache decide
        without it: at once for a tag they hold as Accepted if
        LocalPreAuthorize is on; offline, as they hold it if
        LocalAuthorizeOffline is on. An id tag the charger does not know
        may charge offline if AllowOfflineTxForUnknownId."""
        c = self.config
        now = self._epoch()
        local = None  # (status, parent) as the list or the cache has it
        lst = self.local_list(False) if c.value("LocalAuthListEnabled") else None
        if lst is not None:
            local = lst.info(id_tag, now)
        if local is None and c.value("AuthorizationCacheEnabled"):
            cached = self.cache.status(id_tag, now)
            if cached is not None:
                local = (cached, self.cache.parent(id_tag))
        online = self.accepted and self.ws is not None and not self.link_lost
        if online and local is not None and local[0] == "Accepted" and c.value("LocalPreAuthorize"):
            return local  # StartTransaction's answer will say it again
        r = None
        if online:
            try:
                r = await self.call("Authorize", {"idTag": id_tag})
            except CallError as e:
                log.warn("ocpp: Authorize %s: %s" % (id_tag, e))
        if r is not None:
            info = r.get("idTagInfo", {})
            self._remember(id_tag, info)
            return info.get("status"), info.get("parentIdTag")
        if local is not None and c.value("LocalAuthorizeOffline"):
            return local
        return ("Accepted" if c.value("AllowOfflineTxForUnknownId") else "unknown offline"), None

    def local_list(self, create=True):
        """The Local Authorization List, loaded when first needed (its
        module too); with ``create`` false None while there is none on flash."""
        if self._list is None:
            if not create:
                try:
                    os.stat(self.list_path)
                except OSError:
                    return None
            from ocpp.locallist import LocalList

            self._list = LocalList(self.list_path, self.config.value("LocalAuthListMaxLength"))
        return self._list

    def smart(self, create=True):
        """The charging profiles as applied (ocpp.smartcharging.Applied),
        loaded when first needed (its module too); with ``create`` false
        None while there are none on flash."""
        if self._smart is None:
            if not create:
                try:
                    os.stat(self.profiles_path)
                except OSError:
                    return None
            from ocpp.smartcharging import Applied

            self._smart = Applied(self, self.profiles_path)
            self._smart.step(self)  # the limit applies now, not at the next step
        return self._smart

    def tx_id(self):
        """The running transaction's id, once the central system gave it (else None)."""
        return None if self.tx_ref is None else self.journal.transaction_id(self.tx_ref)

    def _authorize(self, id_tag):
        """EvseManager.authorize, noting the reservation it consumes (the
        reserved tag's): its id goes into the StartTransaction."""
        held = self.m.reservation
        done = self.m.authorize(id_tag)
        if done is True and held is not None and self.m.reservation is None:
            self.reservation_used = held[0]
        return done

    def _apply_availability(self, kind):
        self._availability = None
        enabled = self.config.value("EnabledDataTransfer")
        if enabled:
            from ocpp import eaton

            eaton.shut_off(self, kind, enabled)
        if kind == "Inoperative":
            self.m.disable("OCPP", 10)
        else:
            self.m.enable("OCPP", 10)


class _Settings:
    """The settings as the configuration keys' hooks use them, through the
    charger interface: a change is validated, stored and applied as a
    WebAPI write is."""

    def __init__(self, manager):
        self.m = manager

    def __getitem__(self, key):
        return self.m.settings()[key]

    def update(self, changes):
        return self.m.set_settings(changes)
