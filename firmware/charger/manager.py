"""EvseManager: the one interface through which every protocol steers the
charger (design.md, "One charger interface"), in the words of EVerest's
``evse_manager``.

    m = charger.manager
    m.authorize("04A2B3C4")        # True, or a string saying why not
    m.set_external_limit(OCPP, watts=7400, timeout_ms=60000, fallback_a=16)
    sub = m.events.subscribe()     # SessionStarted, TransactionStarted, ...
    m.offered_a, m.limit_source    # 10, "OCPP"

An adapter (WebAPI, OCPP, MQTT, cFos, the web page) only translates between
its protocol and this class; none touches the kernel, the meters or the
settings store itself. Commands never raise for a refusal: they return True
or the reason as a string, and a refused command changes nothing.

The control loop calls ``step(now)`` after every ``kernel.step``. It
compares the kernel with what it saw last and emits the session events; it
allocates nothing, so it runs with the heap locked like the rest of the tick.

A *session* is a vehicle connected (SessionStarted .. SessionFinished). A
*transaction* is the part of it in which charging is allowed: it starts
when the vehicle is connected and authorized (at once with ChargeAutoStart,
"free mode"; else after ``authorize``, given before or after plug-in) and
ends with ``stop_transaction`` (StoppingCharging, then TransactionFinished
once the contactor is open), the vehicle leaving (TransactionFinished,
EVDisconnected) or a latched fault (EmergencyStop for the emergency input,
else Other). One session may hold several transactions: the WebAPI's
ChargeStartToggle stops and starts them while the vehicle stays.

Enable/disable follows EVerest's priorities: each source holds one entry,
the entry with the LOWEST priority number wins (0 is the highest priority,
10000 the lowest), and at equal priority disable wins. A disabled charger
offers nothing (PWM off: the vehicle sees no offer, a running transaction
pauses) and starts no transaction; it keeps a transaction that runs, for
the adapter to stop if its protocol says so.
"""

from app import log
from charger import events as E
from charger.limits import (
    LimitArbiter,
    NONE,
    SETTINGS,
    CABLE,
    RATING,
    LOAD,
    POWER_AVAILABLE,
    OCPP,
    EVEREST,
    PAUSED,
    DISABLED,
    SOURCE_NAMES,
    MAX_TIMEOUT_MS,
)
from evse import states as S
from evse.compat import const, ticks_add, ticks_diff
from evse.contactor import WELDED
from evse.loadlimit import NO_LIMIT_A
from evse.pilot import MIN_CURRENT_A, PWM_OFF

PRIORITY_HIGHEST = const(0)
PRIORITY_LOWEST = const(10000)
MAX_ENABLE_SOURCES = const(8)  # entries in the enable/disable table (EVerest knows 8 sources)
MAX_ID_TAG = const(36)  # characters (OCPP 2.0.1's IdToken; 1.6's is 20)

# The charging phase of a transaction, as last reported.
_NONE = const(-1)


class EvseManager:
    def __init__(self, charger):
        self.charger = charger  # app.runtime.Charger: kernel, config, clock, metering
        self.kernel = charger.kernel
        self.config = charger.config
        self.clock = charger.clock
        self.events = E.Events()
        self.limits = LimitArbiter()
        self.limits.set(RATING, self.kernel.params.max_current_a)
        self._enables = {}  # source: (enable, priority)
        self.token_validator = None  # async (id tag): authorizes it if it may charge (present_id_tag)
        self._enabled = True
        # What step() saw last (all ints and bools: step allocates nothing).
        self._session = False
        self._tx = False
        self._stopping = False
        self._reason = E.REASON_LOCAL  # of the stop under way
        self._phase = _NONE  # the last charging event of the transaction
        self._fault = 0
        # What adapters show beyond the events (Events.touch when it changes).
        self._shown = -1  # the state, CP level, offer and contactor, packed in one int
        self._offer_limit = NONE  # the least limit of all, as the last resolve found it
        # Transactions wait for their start record (require_start_record).
        self._start_gate = False
        self._recorded = False
        # Authorization: one waiting for its transaction, and the tag of the
        # last one (kept after TransactionFinished until the next).
        self._pending = False
        self._id_tag = None
        # The reservation (id, tag, ticks it expires at), or _res_id None.
        self._res_id = None
        self._res_tag = None
        self._res_until = 0
        self._external = None  # charger.external.ExternalControl, once taken
        if self.config["MqttBroker"] and self.config["MqttEverest"] == 2:
            # EVerest's board support, from boot (MQTT settings apply at a
            # restart): before its adapter has connected, the kernel offers
            # nothing of its own accord.
            self.take_external_control()

    # -- state, for adapters ---------------------------------------------------

    @property
    def state(self):
        """The kernel's EvseState (evse.states, as the WebAPI numbers it)."""
        return self.kernel.state

    @property
    def offered_a(self):
        return self.kernel.offered_a

    @property
    def limit_source(self):
        """The name of the source whose limit is the least (limits.SOURCE_NAMES)."""
        s = self.limits.source
        return SOURCE_NAMES[s] if s >= 0 else "None"

    @property
    def connected(self):
        return self.kernel.connected

    @property
    def charging(self):
        """The contactor is closed: energy may flow."""
        return self.kernel.relay

    @property
    def session(self):
        """The session's accounting (evse.session.Session): energy_ws,
        duration_s, estimated (no meter has settled the energy yet)."""
        return self.kernel.session

    @property
    def transaction_active(self):
        """A transaction runs (also while it is stopping, until
        TransactionFinished)."""
        k = self.kernel
        return self._tx or (k.connected and k.started)

    @property
    def stopping(self):
        return self._stopping

    @property
    def authorized(self):
        """An authorization waits for its transaction, or a transaction runs."""
        return self._pending or self.transaction_active

    @property
    def enabled(self):
        return self._enabled

    @property
    def fault(self):
        """The EvseState of the fault in force (0: none): latched ones first."""
        k = self.kernel
        return k.latched or k.fault

    @property
    def cause(self):
        """Why a general error was raised (evse.states.CAUSES)."""
        return self.kernel.cause

    @property
    def id_tag(self):
        """The id tag of the current or last authorization (None: free charging)."""
        return self._id_tag

    @property
    def reservation(self):
        """(reservation id, id tag), or None."""
        return None if self._res_id is None else (self._res_id, self._res_tag)

    # What the pilot and the contactor do, for adapters that mirror them
    # (Josev's cp_status, EVerest's session state).

    @property
    def vehicle_connected(self):
        return self.kernel.connected

    @property
    def cp(self):
        """The CP level as classified (evse.states.CP_*; CP_LETTERS names it)."""
        return self.kernel.cp

    @property
    def pwm_permille(self):
        """The PWM duty driven (evse.pilot: PWM_OFF steady +12 V, PWM_F -12 V)."""
        return self.kernel.pwm_permille

    @property
    def contactor_closed(self):
        return self.kernel.relay

    @property
    def contactor_welded(self):
        return self.kernel.contactor.fault == WELDED

    @property
    def offer_withheld(self):
        """The sources the kernel does not know (load management, the
        managers, pause, disable) leave less than the least current: no offer."""
        return self.kernel.limit_a < MIN_CURRENT_A

    @property
    def socket(self):
        """A socket with a plug lock (ChargerMode 1, as in force), not a fixed cable."""
        return self.kernel.case_b

    @property
    def rating_a(self):
        """The charger's own rating (its board file)."""
        return self.kernel.params.max_current_a

    @property
    def nominal_voltage(self):
        return self.kernel.params.nominal_voltage

    @property
    def offer_limit_a(self):
        """The least limit of every source (what the charger may offer now,
        whether or not a vehicle takes it; 0 while paused or disabled)."""
        return self._offer_limit if self._offer_limit >= 0 else NO_LIMIT_A

    @property
    def paused(self):
        return self.limits.get(PAUSED) == 0

    # What the WebAPI's Status shows beyond that.

    @property
    def current_a(self):
        return self.kernel.current_a

    @property
    def power_w(self):
        return self.kernel.power_w

    @property
    def voltage_v(self):
        """(volts, measured): meter 1's voltage, else the board's nominal
        voltage (measured False: what the estimates of power and energy use)."""
        v = self.charger.metering.voltage_v(self.clock.uptime_ms())
        if v is None:
            return self.kernel.params.nominal_voltage, False
        return v, True

    @property
    def temperature_c(self):
        """The board's temperature in whole degrees C (debounced, as the
        derating uses it); None on a board without a sensor."""
        k = self.kernel
        return k.temp_c10 // 10 if k.params.temp_present else None

    @property
    def pp_a(self):
        return self.kernel.pp_a

    @property
    def three_phase(self):
        return self.kernel.settings.three_phase

    @property
    def auto_start(self):
        """A connected vehicle is authorized at once (ChargeAutoStart, while
        the charger is enabled and not reserved)."""
        return self.kernel.settings.auto_start

    @property
    def started(self):
        return self.kernel.started

    @property
    def boosted(self):
        return self.kernel.boosted

    @property
    def start_stop_allowed(self):
        return self.kernel.start_stop_allowed

    @property
    def boost_allowed(self):
        return self.kernel.boost_allowed

    def phases(self):
        return 3 if self.kernel.settings.three_phase else 1

    def general_info(self):
        """GeneralInfo: what is wrong, in words."""
        k = self.kernel
        if k.cause:
            return "System: " + S.CAUSES[k.cause]
        if k.latched or k.fault:
            return "System: " + S.NAMES[k.latched or k.fault]
        if k.state == S.VENT_D and not k.settings.ventilation:
            return "System: vehicle requires ventilation, which is not available"
        return "System: no faults"

    def why_not_startable(self):
        k = self.kernel
        if k.latched or k.fault:
            return S.NAMES[k.latched or k.fault]
        if not k.connected:
            return "no vehicle connected"
        return "starting up"

    # -- commands ----------------------------------------------------------------

    def enable(self, source, priority=PRIORITY_LOWEST):
        """Source ``source`` (any name) asks for the charger enabled, at
        ``priority`` (0 highest). True, or why not; whether the charger IS
        enabled afterwards is ``enabled`` (a higher priority may say no)."""
        return self._enable_entry(source, True, priority)

    def disable(self, source, priority=PRIORITY_LOWEST):
        """Source ``source`` asks for the charger disabled (see enable)."""
        return self._enable_entry(source, False, priority)

    def unassign(self, source):
        """Forget ``source``'s enable/disable entry (EVerest's Unassigned)."""
        self._enables.pop(source, None)
        self._update_enabled()
        return True

    def _enable_entry(self, source, enable, priority):
        if not isinstance(source, (str, int)):
            return "source must be a name or a number"
        if isinstance(priority, bool) or not (isinstance(priority, int) and PRIORITY_HIGHEST <= priority <= PRIORITY_LOWEST):
            return "priority must be a whole number from 0 (highest) to 10000"
        if source not in self._enables and len(self._enables) >= MAX_ENABLE_SOURCES:
            return "too many sources (at most %d)" % MAX_ENABLE_SOURCES
        self._enables[source] = (enable, priority)
        self._update_enabled()
        return True

    def _update_enabled(self):
        best = None
        for enable, priority in self._enables.values():
            if best is None or priority < best[1] or (priority == best[1] and not enable):
                best = (enable, priority)
        enabled = best is None or best[0]
        if enabled != self._enabled:
            self._enabled = enabled
            self.events.emit(E.ENABLED if enabled else E.DISABLED, 0, self.clock.ticks())
            self.limits.set(DISABLED, NONE if enabled else 0)
            if not enabled and self._pending:
                self.withdraw_authorization()  # nothing may start while disabled
            elif enabled and self.kernel.connected and self.config["ChargeAutoStart"] and self._res_id is None:
                # Free mode: a vehicle that waited while disabled starts now,
                # as if it had just plugged in.
                self._pending = True
                self._id_tag = None
                self.events.emit(E.AUTHORIZED, 0, self.clock.ticks())
            self._sync_auto_start()
            self._resolve(self.clock.ticks())

    def authorize(self, id_tag=None):
        """Authorize charging, by ``id_tag`` (a string) or freely (None):
        the transaction starts when a vehicle is connected (now, or when it
        comes). Consumes a reservation held for ``id_tag``."""
        k = self.kernel
        if id_tag is not None and not (isinstance(id_tag, str) and 0 < len(id_tag) <= MAX_ID_TAG):
            return "id tag must be a string of 1 to %d characters" % MAX_ID_TAG
        if not self._enabled:
            return "the charger is disabled"
        if k.latched:
            return S.NAMES[k.latched]
        if self.transaction_active and not self._stopping:
            return "a transaction is running"
        if self._res_id is not None:
            if id_tag != self._res_tag:
                return "reserved for another id tag"
            self._end_reservation(self.clock.ticks())
        self._pending = True
        self._id_tag = id_tag
        self.events.emit(E.AUTHORIZED, 0 if id_tag is None else 1, self.clock.ticks())
        if k.connected and not k.started and k.start_stop_allowed:
            k.toggle_start()  # the transaction starts at the next step
        return True

    def present_id_tag(self, id_tag):
        """An id tag shown at the charger (a card on its reader). The tag of
        the running transaction stops it (Local); any other is checked by the
        ``token_validator`` an adapter set (OCPP asks its central system),
        which authorizes it if it may charge; without one, it is authorized
        at once. True, or why not."""
        if not (isinstance(id_tag, str) and 0 < len(id_tag) <= MAX_ID_TAG):
            return "id tag must be a string of 1 to %d characters" % MAX_ID_TAG
        if self.transaction_active and id_tag == self._id_tag:
            return self.stop_transaction(E.REASON_LOCAL)
        if self.token_validator is None:
            return self.authorize(id_tag)
        import asyncio

        asyncio.create_task(self.token_validator(id_tag))
        return True

    def withdraw_authorization(self):
        """The authorization waiting for a vehicle lapses (e.g. OCPP's
        ConnectionTimeOut). A running transaction is not affected."""
        if not self._pending:
            return "no authorization is waiting for a transaction"
        self._pending = False
        self.events.emit(E.DEAUTHORIZED, 0, self.clock.ticks())
        return True

    def reserve(self, reservation_id, id_tag, expiry_ms):
        """Hold the charger for ``id_tag`` for ``expiry_ms`` from now: no
        transaction starts for anyone else (nor by itself) meanwhile. A new
        reservation with the same id replaces the old one; an authorization
        waiting for a vehicle lapses."""
        k = self.kernel
        if not isinstance(reservation_id, int) or isinstance(reservation_id, bool):
            return "reservation id must be a whole number"
        if not (isinstance(id_tag, str) and 0 < len(id_tag) <= MAX_ID_TAG):
            return "id tag must be a string of 1 to %d characters" % MAX_ID_TAG
        if not (isinstance(expiry_ms, int) and 0 < expiry_ms <= MAX_TIMEOUT_MS):
            return "expiry must be 1 to %d ms from now" % MAX_TIMEOUT_MS
        if not self._enabled:
            return "the charger is disabled"
        if k.latched or k.fault:
            return S.NAMES[k.latched or k.fault]
        if k.connected or self.transaction_active:
            return "occupied"
        if self._res_id is not None and self._res_id != reservation_id:
            return "already reserved"
        now = self.clock.ticks()
        self._res_id = reservation_id
        self._res_tag = id_tag
        self._res_until = ticks_add(now, expiry_ms)
        if self._pending:
            self.withdraw_authorization()  # the reserved tag must authorize anew
        self._sync_auto_start()
        self.events.emit(E.RESERVATION_START, reservation_id, now)
        return True

    def cancel_reservation(self, reservation_id):
        if self._res_id is None or self._res_id != reservation_id:
            return "no such reservation"
        self._end_reservation(self.clock.ticks())
        return True

    def pause_charging(self):
        """Offer nothing for now (ChargingPausedEVSE); the transaction goes on."""
        if not self.transaction_active:
            return "no transaction"
        self.limits.set(PAUSED, 0)
        self._resolve(self.clock.ticks())
        return True

    def resume_charging(self):
        if not self.paused:
            return "not paused"
        self.limits.clear(PAUSED)
        self._resolve(self.clock.ticks())
        return True

    def stop_transaction(self, reason=E.REASON_LOCAL):
        """End the transaction for ``reason`` (REASON_*): the offer stops at
        once, the contactor opens the safe way (the kernel waits for the
        vehicle, at most 6 s), then TransactionFinished."""
        if isinstance(reason, bool) or not (isinstance(reason, int) and 0 <= reason < len(E.REASONS)):
            return "reason must be one of charger.events.REASON_*"
        k = self.kernel
        if not (k.connected and k.started):  # none, or stopping already
            return "no transaction"
        self._reason = reason
        self.kernel.stop()
        return True

    def require_start_record(self):
        """From now on every transaction offers no current until
        ``start_recorded``: an adapter that bills transactions (OCPP) calls
        this before the control loop first runs, so that its record of a
        start is on flash before any energy flows. Were the charger to lose
        power in between, the central system would never hear of energy
        that was delivered. A vehicle waits in state B meanwhile (a flash
        write: milliseconds; after a restart, until meter 1 has answered)."""
        self._start_gate = True
        self.kernel.hold_offer = not (self._tx and self._recorded)

    def start_recorded(self):
        """The running transaction's start is recorded: offer current."""
        if self._tx and not self._stopping:
            self._recorded = True
            self.kernel.hold_offer = False

    def force_unlock(self):
        """Release the socket's plug lock: ends a transaction (UnlockCommand);
        the kernel unlocks once the contactor is open."""
        k = self.kernel
        if not k.case_b:
            return "no plug lock: the cable is fixed to the charger (ChargerMode 0)"
        if k.contactor.fault == WELDED:
            return "contactor welded: the plug stays locked"
        self.stop_transaction(E.REASON_UNLOCK_COMMAND)  # if one runs
        return True

    def set_external_limit(self, source, amps=None, watts=None, timeout_ms=0, fallback_a=NONE):
        """Limit the offer from ``source`` (limits.OCPP, CFOS, JOSEV,
        EVEREST) to ``amps``, or ``watts`` (over the phases charging, at the
        nominal voltage, rounded down); neither: no limit from it. With
        ``timeout_ms`` it reverts to ``fallback_a`` (-1: none) that long
        after now."""
        if not (OCPP <= source <= EVEREST):
            return "source must be one of limits.OCPP, CFOS, JOSEV, EVEREST"
        if amps is not None and watts is not None:
            return "give amps or watts, not both"
        value = amps if watts is None else watts
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1000000:
                return "limit must be a number from 0 to 1000000"
            if watts is not None:
                value = value / (self.kernel.params.nominal_voltage * self.phases())
            value = int(value)  # rounded down: never more than asked
        if not (isinstance(fallback_a, int) and fallback_a >= NONE and fallback_a <= 1000):
            return "fallback must be a whole number of amperes, or -1 for none"
        if not (isinstance(timeout_ms, int) and 0 <= timeout_ms <= MAX_TIMEOUT_MS):
            return "timeout must be 0 (none) to %d ms" % MAX_TIMEOUT_MS
        now = self.clock.ticks()
        self.limits.set(source, NONE if value is None else value, timeout_ms, fallback_a, now)
        self._resolve(now)
        return True

    # External control: EVerest's board support (charger.external).

    def take_external_control(self):
        """From now on the offer and the permission to close come from an
        external controller (until it sends its first heartbeat: nothing),
        for good: a controller's adapter that fails and restarts must not
        leave the kernel deciding alone meanwhile. Returns the controller's
        commands (charger.external.ExternalControl, loaded only now)."""
        from charger.external import ExternalControl

        if self._external is None:
            self._external = ExternalControl(self)
        return self._external

    # The WebAPI's EvseCtrl.

    def start_refusal(self):
        """Why ChargeStartToggle cannot act now, or None."""
        k = self.kernel
        if not k.start_stop_allowed:
            return self.why_not_startable()
        if not k.started:
            if not self._enabled:
                return "the charger is disabled"
            if self._res_id is not None:
                return "reserved for another id tag"
        return None

    def toggle_start(self):
        """ChargeStartToggle: stop the transaction (Local), or authorize one."""
        reason = self.start_refusal()
        if reason:
            return reason
        if self.kernel.started:
            return self.stop_transaction(E.REASON_LOCAL)
        return self.authorize(None)

    def boost_refusal(self):
        k = self.kernel
        return None if k.boost_allowed or k.boosted else "charging is not started"

    def toggle_boost(self):
        """ChargeBoostToggle: BOOST on/off for this session."""
        if self.kernel.toggle_boost():
            return True
        return self.boost_refusal() or "not possible now"

    def may_set_power_available(self, address):
        """Whether a client at ``address`` may write EVSEPowerAvailable."""
        return self.charger.metering.may_steer(address)

    def set_power_available(self, watts):
        """EVSEPowerAvailable: what the remote system grants, for load
        management (ControlStrategy 1) to work within."""
        self.charger.metering.set_power_available(watts, self.clock.uptime_ms())
        return True

    def power_available_w(self):
        """ActualPowerAvailable: what load management leaves the charger (0
        while no algorithm is active)."""
        if self.config["ControlStrategy"] != 1:
            return 0
        k = self.kernel
        lim = self.limits
        a = lim.get(LOAD) if lim.get(LOAD) >= 0 else lim.get(POWER_AVAILABLE)
        if a < 0:
            a = NO_LIMIT_A
        a = min(a, k.params.max_current_a)
        return a * k.params.nominal_voltage * len(self.charger.metering.drawing())

    def load_limit(self, amps):
        """Load management's limit (app.metering, each poll cycle): named
        EVSEPowerAvailable when the remote system steers it (Meter2Type 7)."""
        c = self.config
        remote = c["Meter2Type"] == 7
        on = c["ControlStrategy"] == 1
        self.limits.set(POWER_AVAILABLE, amps if on and remote else NONE)
        self.limits.set(LOAD, amps if on and not remote else NONE)
        self._resolve(self.clock.ticks())

    # Meters.

    def meter_errors(self, n):
        return self.charger.metering.errors(n)

    def meter_data(self, n, now=None):
        """Meter ``n``'s registers (WebAPI Meter1/Meter2's ModbusData) at
        uptime ``now`` (None: now)."""
        return self.charger.metering.data(n, self.clock.uptime_ms() if now is None else now)

    def meter_reading(self, n):
        """Meter ``n``'s (import kWh, power W, currents A, voltages V) now,
        for an energy manager (app.metering.Metering.reading); None without it."""
        return self.charger.metering.reading(n, self.clock.uptime_ms())

    def reset_meter_energy(self):
        """Service code ResetMeterEnergy: False when no meter keeps any."""
        return self.charger.metering.reset_kept_energy(self.clock.uptime_ms())

    # Settings (SystemConfig).

    def settings(self):
        """The settings now (a dict: read it, never change it; a write
        replaces it whole)."""
        return self.config.values

    def validate_settings(self, data):
        """Reasons, keyed by setting, why ``data`` cannot be written."""
        return self.config.validate(data)

    def settings_conflict(self, data):
        """Valid settings that cannot be applied now (keyed by setting)."""
        c = self.config
        if self.kernel.connected and data.get("ChargerMode", c["ChargerMode"]) != c["ChargerMode"]:
            # The mode in force stays until the vehicle leaves (issue 20 item 3).
            return dict(ChargerMode="not while a vehicle is connected")
        return {}

    def set_settings(self, data, password_hash=None):
        """Write and apply ``data`` (SystemConfig keys), all or nothing; the
        errors (empty: done). ``password_hash``: a new AdminPassword's hash
        if the caller derived it already (app.password)."""
        c = self.config
        if not isinstance(data, dict):
            return dict(SystemConfig="must be an object of settings")
        errors = self.settings_conflict(data)  # the store validates (update)
        if errors:
            return errors
        # Only what differs is applied: a client writing back the whole
        # object must not rebuild the meters (their readings would go stale).
        changed = [key for key in data if key not in c.values or c.values[key] != data[key]]
        errors = c.update(data, password_hash)
        if errors:
            return errors
        self.apply_settings(changed)
        log.info("config: %s written" % ",".join(sorted(changed)))
        return errors

    def apply_settings(self, changed=()):
        """Make the running charger follow the settings (``changed``: the
        keys just written; meters are rebuilt only when theirs change)."""
        c = self.config
        st = self.kernel.settings
        st.charge_current_a = c["ChargeCurrent"]
        st.boost_current_a = c["ChargeCurrentBoost"]
        st.three_phase = c["Charge3Phase"]
        st.case_b = c["ChargerMode"] == 1  # taken by the kernel when a vehicle connects
        st.ventilation = c["VentilationAvailable"]
        self._sync_auto_start()
        metering = self.charger.metering
        for key in changed:
            if key.startswith("Meter"):
                metering.configure()
                break
        metering.update(self.clock.uptime_ms())

    def factory_reset(self):
        """Service code FactoryDefault: every setting back to the factory's,
        then a restart."""
        self.config.factory_reset()
        self.charger.restart_soon()
        return True

    def reset(self):
        """Restart the firmware (service code Reset, OCPP Reset): a running
        transaction ends as at a power cut."""
        self.charger.restart_soon()
        return True

    # -- the control loop's part ---------------------------------------------------

    def step(self, now):
        """After each kernel step: resolve the limits and emit what changed.
        Allocates nothing."""
        k = self.kernel
        ev = self.events
        lim = self.limits
        st = k.settings
        # The limits again only when one may have changed: the arbiter's
        # loop costs as much as a kernel step.
        amps = lim._amps
        if (
            lim.changed
            or amps[SETTINGS] != (st.boost_current_a if k.boosted else st.charge_current_a)
            or amps[CABLE] != (k.pp_a if k.case_b and k.connected else NONE)
            or lim.due(now)
        ):
            self._resolve(now)
        shown = ((k.state * 8 + k.cp) * 2 + (0 < k.pwm_permille < PWM_OFF)) * 2 + k.relay
        if shown != self._shown:
            self._shown = shown
            ev.touch()  # Josev's cp_status, contactor and status code
        fault = k.latched or k.fault
        if fault != self._fault:
            if self._fault:
                ev.emit(E.ERROR_CLEARED, self._fault, now)
            if fault:
                ev.emit(E.ERROR_RAISED, fault, now)
            self._fault = fault
        if k.connected and not self._session:
            self._session = True
            ev.emit(E.SESSION_STARTED, 0, now)
        if self._pending and k.connected and not k.started and k.start_stop_allowed:
            k.toggle_start()  # authorized before the vehicle came, or before a fault cleared
        running = k.connected and k.started
        if self._tx:
            if not running and not self._stopping:
                if k.connected:
                    self._stopping = True  # finished once the contactor is open
                    ev.emit(E.STOPPING_CHARGING, 0, now)
                elif k.latched:  # the kernel ended the session
                    self._reason = E.REASON_EMERGENCY_STOP if k.latched == S.EPO_F else E.REASON_OTHER
                else:
                    self._reason = E.REASON_EV_DISCONNECTED
            if self._stopping:
                # Open, gone, or started again (a new transaction follows).
                if running or not k.relay or not k.connected:
                    self._finish(now)
            elif not running:
                self._finish(now)
        if running and not self._tx:
            self._tx = True
            self._phase = _NONE
            if not self._pending:
                self._id_tag = None  # free charging
                ev.emit(E.AUTHORIZED, 0, now)
            self._pending = False
            ev.emit(E.TRANSACTION_STARTED, 0, now)
        if self._tx and not self._stopping:
            # Transients (the self-test at plug-in, the lock moving, the
            # relay closing) leave the phase as it was.
            phase = self._phase
            if k.limit_a < MIN_CURRENT_A:  # paused, disabled, load management
                phase = E.CHARGING_PAUSED_EVSE
            elif k.relay:
                phase = E.CHARGING_STARTED
            elif k.offered_a and k.state == S.CONNECTED_B:
                phase = E.CHARGING_PAUSED_EV
            if phase != self._phase:
                self._phase = phase
                ev.emit(phase, 0, now)
        if self._session and not k.connected:
            self._session = False
            self._pending = False
            ev.emit(E.SESSION_FINISHED, 0, now)
        if self._res_id is not None and ticks_diff(now, self._res_until) >= 0:
            self._end_reservation(now)
        # Before the kernel's next step: a transaction that starts there is
        # held until its start is recorded.
        k.hold_offer = self._start_gate and not (self._tx and self._recorded)

    def _finish(self, now):
        self._tx = False
        self._recorded = False
        self._stopping = False
        self._phase = _NONE
        self.events.emit(E.TRANSACTION_FINISHED, self._reason, now)
        self._reason = E.REASON_LOCAL
        if self.limits.get(PAUSED) >= 0:
            self.limits.clear(PAUSED)
            self._resolve(now)

    def _resolve(self, now):
        """The kernel's limit_a: the least of the sources it does not know
        itself (load management, EVSEPowerAvailable, the managers, pause,
        disable); then the winner of all, for limit_source."""
        k = self.kernel
        lim = self.limits
        st = k.settings
        lim.set(SETTINGS, st.boost_current_a if k.boosted else st.charge_current_a)
        lim.set(CABLE, k.pp_a if k.case_b and k.connected else NONE)
        a = lim.resolve(now, LOAD)
        k.limit_a = a if a >= 0 else NO_LIMIT_A
        lim.resolve(now)
        a = lim._amps[lim.source] if lim.source >= 0 else NONE
        if a != self._offer_limit:
            self._offer_limit = a
            self.events.touch()  # Josev's limits: within the control period

    def _end_reservation(self, now):
        rid = self._res_id
        self._res_id = None
        self._res_tag = None
        self._sync_auto_start()
        self.events.emit(E.RESERVATION_END, rid, now)

    def _sync_auto_start(self):
        """A vehicle is authorized at plug-in only with ChargeAutoStart, while
        enabled and not reserved."""
        self.kernel.settings.auto_start = self.config["ChargeAutoStart"] and self._enabled and self._res_id is None
