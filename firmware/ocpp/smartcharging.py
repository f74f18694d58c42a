"""Smart Charging (OCPP 1.6 sections 3.13, 5.5, 5.7 and 5.16): the
central system's charging profiles, their composite, and the one limit it
puts on the offer.

    sc = SmartCharging("ocpp.prof")
    sc.install(1, cs_charging_profiles, tx_id=None, now_s=now_s)   # "Accepted" / "Rejected"
    amps, phases, next_s = sc.limit_at(now_s, elapsed_s, tx_id, 230, 3)
    sc.schedule(now_s, elapsed_s, tx_id, 230, 3, 3600, 16)   # [[start s, amps, phases], ...]
    sc.clear(purpose="TxDefaultProfile")   # how many were removed

The composite at an instant (section 3.13.2): of each purpose, the profile
with the highest stackLevel that is valid then (validFrom..validTo) and
whose schedule runs then (started, not past its duration) wins; a
TxDefaultProfile set on connector 1 wins over one set on connector 0. A
TxProfile of the running transaction overrides the TxDefaultProfile; the
ChargePointMaxProfile caps both. When the winner of a purpose expires, the
next lower stack level of that purpose applies again.

Schedules:

* Absolute: from ``startSchedule`` (without one: from when it was
  installed, if the time was known then).
* Recurring Daily/Weekly: from ``startSchedule``, again every 24 h / 7 d;
  a ``duration`` shorter than that leaves the rest of each day/week free.
* Relative: from the start of the transaction; without a transaction the
  first period is the one a transaction would start with.

Units: a limit in W becomes amperes per phase over the phases the power
flows on, at the nominal voltage: A = W / (V x n), n the period's
``numberPhases`` (3 if absent, as OCPP says) but never more than the
charger charges on (its ThreePhase setting). That is how EvseManager
converts the watts of every other source. GetCompositeSchedule in W gives
A x V x n back.

Before the time is known (no BootNotification or Heartbeat answered
since power-up) an absolute or recurring schedule cannot be placed. It is
not ignored: it holds at the lowest limit of its periods (validFrom and
validTo unchecked) until the time comes, the safe side of every period it
might be in. Relative schedules run on the charger's own uptime and are
exact from the first second.

``minChargingRate`` is kept and validated; it does not change the offer
(IEC 61851's 6 A floor does: a limit below it pauses charging).

On flash (``path``): a line {"count": n}, then one JSON line per profile
(the list below), written whole by atomic replace (app.atomic) a line at a
time, so a power cut leaves the old set or the new one and no write needs
the whole file in one string. A
TxProfile ends with its transaction, and is not kept across a restart
(the transaction that ran is stopped with PowerLoss then).

Pure logic, no charger: ``handle`` and ``step`` at the end connect it to
the charge point (ocpp.chargepoint imports this module only when a profile
is first set, or on start when profiles are on flash).
"""

import json

from app import log
from app.atomic import write_atomic
from charger.limits import OCPP  # the arbiter's source of charging profiles
from ocpp import timefmt

MAX_INSTALLED = 8  # MaxChargingProfilesInstalled
MAX_STACK_LEVEL = 8  # ChargeProfileMaxStackLevel
MAX_PERIODS = 24  # ChargingScheduleMaxPeriods
DAY_S = 86400

CP_MAX = "ChargePointMaxProfile"
TX_DEFAULT = "TxDefaultProfile"
TX = "TxProfile"
_PURPOSES = (CP_MAX, TX_DEFAULT, TX)
_KINDS = ("Absolute", "Recurring", "Relative")
_CYCLES = dict(Daily=DAY_S, Weekly=7 * DAY_S)

# A profile, held as a list (smaller than a dict on the heap) of:
ID, CONNECTOR, STACK, PURPOSE, KIND, CYCLE, FROM, TO, TX_ID, START, DURATION, UNIT, MIN_RATE, PERIODS = range(14)
# PERIODS: [startPeriod s, limit, numberPhases or 0, startPeriod, ...], ascending from 0: one
# flat list, three words a period (a list per period would be three times the heap).


class SmartCharging:
    def __init__(self, path="ocpp.prof", max_installed=MAX_INSTALLED):
        self.path = path
        self.max_installed = max_installed
        self.profiles = []
        try:
            with open(path) as f:
                count = json.loads(f.readline())["count"]
                profiles = [json.loads(line) for line in f]
            if len(profiles) != count:
                raise ValueError("%d profiles of %d" % (len(profiles), count))
            # A TxProfile's transaction ended with the restart (PowerLoss).
            self.profiles = [_compact(p) for p in profiles if p[PURPOSE] != TX]
        except OSError:
            pass  # none yet
        except (ValueError, KeyError, TypeError, IndexError) as e:  # what atomic replace never leaves
            log.warn("ocpp: %s unreadable (%s): no profiles" % (path, e))

    def _save(self, profiles):
        write_atomic(self.path, _lines(profiles))
        self.profiles = profiles

    # -- SetChargingProfile, ClearChargingProfile --------------------------------

    def install(self, connector, cs, tx_id=None, now_s=None, max_stack=MAX_STACK_LEVEL, max_periods=MAX_PERIODS):
        """SetChargingProfile: "Accepted", or "Rejected" (logged why) and
        nothing changed. ``tx_id``: the running transaction's id (None:
        none runs); ``now_s``: the time (epoch s) or None if unknown."""
        try:
            p = _profile(connector, cs, max_stack, max_periods)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            return _rejected(str(e) or type(e).__name__)
        if p[PURPOSE] == TX:
            if tx_id is None:
                return _rejected("a TxProfile needs a running transaction")
            if p[TX_ID] is None:
                p[TX_ID] = tx_id
            elif p[TX_ID] != tx_id:
                return _rejected("transaction %s is not the one running (%s)" % (p[TX_ID], tx_id))
        if p[KIND] == "Absolute" and p[START] is None:
            p[START] = now_s  # from now on (None before the time is known: held at its lowest)
        # The same id, or the same purpose, stack level and connector: replaced (section 5.16.1).
        kept = [q for q in self.profiles if q[ID] != p[ID] and
                not (q[PURPOSE] == p[PURPOSE] and q[STACK] == p[STACK] and q[CONNECTOR] == p[CONNECTOR])]
        if len(kept) >= self.max_installed:
            return _rejected("MaxChargingProfilesInstalled (%d) reached" % self.max_installed)
        self._save(kept + [p])
        return "Accepted"

    def clear(self, pid=None, connector=None, purpose=None, stack=None):
        """ClearChargingProfile: how many profiles went. An id names one
        profile whatever the other filters say; without one, every
        filter given must match."""
        if pid is not None:
            gone = [q for q in self.profiles if q[ID] == pid]
        else:
            gone = [q for q in self.profiles if (connector is None or q[CONNECTOR] == connector) and
                    (purpose is None or q[PURPOSE] == purpose) and (stack is None or q[STACK] == stack)]
        if gone:
            self._save([q for q in self.profiles if q not in gone])
        return len(gone)

    def end_transaction(self):
        """The transaction ended: its TxProfiles go with it."""
        if any(q[PURPOSE] == TX for q in self.profiles):
            self._save([q for q in self.profiles if q[PURPOSE] != TX])

    # -- the composite -------------------------------------------------------------

    def limit_at(self, now_s, elapsed_s, tx_id, volts, phases):
        """(amps or None, numberPhases or 0, seconds until it may change or
        None) of the composite at ``now_s`` (epoch s, None: unknown),
        ``elapsed_s`` into the running transaction (None: none runs, and
        then no TxProfile applies)."""
        nxt = None
        best = [None, None, None]  # per purpose: [rank, amps, phases]
        for p in self.profiles:
            if p[PURPOSE] == TX and (elapsed_s is None or p[TX_ID] != tx_id):
                continue
            limit, ph, change = _at(p, now_s, elapsed_s)
            nxt = _sooner(nxt, change)
            if limit is None:
                continue
            amps = limit if p[UNIT] == "A" else limit / (volts * _phases(ph, phases))
            rank = p[STACK] + (1000 if p[PURPOSE] == TX_DEFAULT and p[CONNECTOR] == 1 else 0)
            i = _PURPOSES.index(p[PURPOSE])
            if best[i] is None or rank > best[i][0]:
                best[i] = [rank, amps, ph]
        tx = best[2] or best[1]
        win = tx if best[0] is None or (tx is not None and tx[1] < best[0][1]) else best[0]
        if win is None:
            return None, 0, nxt
        return win[1], win[2], nxt

    def schedule(self, now_s, elapsed_s, tx_id, volts, phases, duration_s, max_periods=MAX_PERIODS):
        """GetCompositeSchedule's periods for ``duration_s`` from now:
        [[startPeriod s, amps or None (no profile), numberPhases], ...],
        a new period only where the limit changes; at most ``max_periods``."""
        out = []
        off = 0
        while off < duration_s and len(out) < max_periods:
            amps, ph, change = self.limit_at(None if now_s is None else now_s + off,
                                             None if elapsed_s is None else elapsed_s + off, tx_id, volts, phases)
            if not out or out[-1][1] != amps or out[-1][2] != ph:
                out.append([off, amps, ph])
            if change is None:
                break
            off += change if change > 0 else 1
        return out


def _at(p, now, elapsed):
    """(limit or None if it does not apply, numberPhases, seconds until
    that may change or None) of profile ``p`` at ``now``/``elapsed``."""
    nxt = None
    if now is not None:
        if p[FROM] is not None and now < p[FROM]:
            return None, 0, p[FROM] - now
        if p[TO] is not None:
            if now >= p[TO]:
                return None, 0, None
            nxt = p[TO] - now
    wrap = None
    periods = p[PERIODS]
    if p[KIND] == "Relative":
        if elapsed is None:  # no transaction: its first period, until one starts
            return periods[1], periods[2], nxt
        off = elapsed
    elif now is None or p[START] is None:  # cannot be placed in time: its lowest limit
        low = 0
        for i in range(3, len(periods), 3):
            if periods[i + 1] < periods[low + 1]:
                low = i
        return periods[low + 1], periods[low + 2], None
    else:
        off = now - p[START]
        if off < 0:
            return None, 0, _sooner(nxt, -off)
        cycle = p[CYCLE]
        if cycle:
            off %= cycle
            wrap = cycle - off
    duration = p[DURATION]
    if duration is not None and off >= duration:
        return None, 0, _sooner(nxt, wrap)
    i = 0
    while i + 3 < len(periods) and periods[i + 3] <= off:
        i += 3
    end = periods[i + 3] - off if i + 3 < len(periods) else None
    if duration is not None:
        end = _sooner(end, duration - off)
    return periods[i + 1], periods[i + 2], _sooner(nxt, _sooner(end, wrap))


def _compact(p):
    """A profile as read back, as small as installed: lists of their exact
    length (json's grow with slack) and the names shared, not copies."""
    p = p[:]  # a slice is exactly its length (list() may keep slack)
    p[PURPOSE] = _PURPOSES[_PURPOSES.index(p[PURPOSE])]
    p[KIND] = _KINDS[_KINDS.index(p[KIND])]
    p[UNIT] = "A" if p[UNIT] == "A" else "W"
    p[PERIODS] = p[PERIODS][:]
    return p


def _lines(profiles):
    """The file, a line at a time (never the whole of it in one string):
    {"count": n}, then each profile's list."""
    yield '{"count": %d}\n' % len(profiles)
    for p in profiles:
        yield json.dumps(p) + "\n"


def _sooner(a, b):
    return b if a is None else a if b is None or a <= b else b


def _phases(numberphases, phases):
    n = numberphases or 3
    return n if n < phases else phases


def _rejected(why):
    log.info("ocpp: charging profile rejected: %s" % why)
    return "Rejected"


def _int(v, what, lo=0, hi=2 ** 31 - 1):
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError("%s must be a whole number from %d to %d" % (what, lo, hi))
    return v


def _num(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise ValueError("%s must be a number >= 0" % what)
    return v


def _time(v, what):
    if v is None:
        return None
    t = timefmt.parse(v) if isinstance(v, str) else None
    if t is None:
        raise ValueError("%s unreadable" % what)
    return t


def _profile(connector, cs, max_stack, max_periods):
    """A csChargingProfiles checked and held as a list (see PERIODS...);
    ValueError saying what is wrong."""
    connector = _int(connector, "connectorId", 0, 1)
    purpose = cs["chargingProfilePurpose"]
    if purpose not in _PURPOSES:
        raise ValueError("chargingProfilePurpose unknown")
    if purpose == CP_MAX and connector != 0:
        raise ValueError("a ChargePointMaxProfile is set on connector 0")
    if purpose == TX and connector != 1:
        raise ValueError("a TxProfile is set on connector 1")
    kind = cs["chargingProfileKind"]
    if kind not in _KINDS:
        raise ValueError("chargingProfileKind unknown")
    s = cs["chargingSchedule"]
    start = _time(s.get("startSchedule"), "startSchedule")
    cycle = 0
    if kind == "Recurring":
        cycle = _CYCLES.get(cs.get("recurrencyKind"))
        if not cycle or start is None:
            raise ValueError("a Recurring profile needs recurrencyKind Daily or Weekly and a startSchedule")
    elif kind == "Relative":
        start = None  # from the transaction's start
    unit = s["chargingRateUnit"]
    if unit not in ("A", "W"):
        raise ValueError("chargingRateUnit must be A or W")
    duration = s.get("duration")
    if duration is not None:
        duration = _int(duration, "duration", 1)
    min_rate = s.get("minChargingRate")
    if min_rate is not None:
        min_rate = _num(min_rate, "minChargingRate")
    raw = s["chargingSchedulePeriod"]
    if not isinstance(raw, list) or not 1 <= len(raw) <= max_periods:
        raise ValueError("1 to %d chargingSchedulePeriod (ChargingScheduleMaxPeriods)" % max_periods)
    periods = [0] * (3 * len(raw))  # its size from the start: no slack
    for i, q in enumerate(raw):
        at = _int(q["startPeriod"], "startPeriod")
        if (at != 0) if i == 0 else (at <= periods[3 * i - 3]):
            raise ValueError("startPeriod must start at 0 and rise")
        ph = q.get("numberPhases")
        periods[3 * i] = at
        periods[3 * i + 1] = _num(q["limit"], "limit")
        periods[3 * i + 2] = 0 if ph is None else _int(ph, "numberPhases", 1, 3)
    valid_from = _time(cs.get("validFrom"), "validFrom")
    valid_to = _time(cs.get("validTo"), "validTo")
    tx_id = cs.get("transactionId")
    if tx_id is not None:
        _int(tx_id, "transactionId", -2 ** 31)
    return [_int(cs["chargingProfileId"], "chargingProfileId", -2 ** 31), connector,
            _int(cs["stackLevel"], "stackLevel", 0, max_stack), purpose, kind, cycle, valid_from, valid_to,
            tx_id if purpose == TX else None, start, duration, unit, min_rate, periods]


# -- the charge point's side ---------------------------------------------------------

class Applied:
    """The composite as the charge point applies it: the OCPP source of
    the limit arbiter, set again when a period starts or ends (the
    arbiter's timeout switches to the next limit on the very tick, the
    charge point's step then looks one period further), when a profile
    changes, a transaction starts or ends, the time is set or the phases
    change."""

    def __init__(self, cp, path):
        self.sc = SmartCharging(path, cp.config.value("MaxChargingProfilesInstalled"))
        self.dirty = True
        self.due = None  # uptime ms of the next re-evaluation
        self.seen = None  # (transaction running, its id, epoch_at, phases) at the last one
        self.tx_since = None  # uptime ms the running transaction started at

    def elapsed(self, cp, uptime):
        return None if self.tx_since is None else (uptime - self.tx_since) // 1000

    def step(self, cp):
        m = cp.m
        uptime = cp._uptime()
        running = m.transaction_active
        if running and self.tx_since is None:
            self.tx_since = uptime
        elif not running and self.tx_since is not None:
            self.tx_since = None
            self.sc.end_transaction()
        seen = (running, cp.tx_id(), cp.epoch_at, m.phases())
        if not self.dirty and seen == self.seen and (self.due is None or uptime < self.due):
            return
        self.dirty = False
        self.seen = seen
        now = cp._epoch()
        elapsed = self.elapsed(cp, uptime)
        # How far into its second the clock is: boundaries fall on whole
        # seconds of the time (or, before it is known, of the transaction).
        frac = 0
        if now is not None:
            frac = (uptime - cp.epoch_at[1]) % 1000
        elif elapsed is not None:
            frac = (uptime - self.tx_since) % 1000
        volts = m.kernel.params.nominal_voltage
        amps, _, change = self.sc.limit_at(now, elapsed, seen[1], volts, seen[3])
        amps = None if amps is None else int(amps)  # None: no limit from the profiles
        if change is None or change > DAY_S:  # looked at again within a day, whatever comes
            done = m.set_external_limit(OCPP, amps=amps)
            self.due = None if change is None else uptime + DAY_S * 1000
        else:
            after, _, _ = self.sc.limit_at(None if now is None else now + change,
                                           None if elapsed is None else elapsed + change, seen[1], volts, seen[3])
            ms = change * 1000 - frac
            done = m.set_external_limit(OCPP, amps=amps, timeout_ms=ms if ms > 0 else 1,
                                        fallback_a=-1 if after is None else int(after))
            self.due = uptime + ms
        if done is not True:
            log.warn("ocpp: charging profile limit %s A not applied: %s" % (amps, done))


def handle(cp, action, p):
    """SetChargingProfile.conf, ClearChargingProfile.conf or
    GetCompositeSchedule.conf (ChargePoint._handle)."""
    if action == "GetCompositeSchedule":
        return composite(cp, p)
    applied = cp.smart()
    sc = applied.sc
    if action == "SetChargingProfile":
        cs = p.get("csChargingProfiles")
        if not isinstance(cs, dict):
            from ocpp.chargepoint import CallError

            raise CallError("csChargingProfiles must be an object")
        c = cp.config
        status = sc.install(p.get("connectorId"), cs, cp.tx_id() if cp.m.transaction_active else None, cp._epoch(),
                            c.value("ChargeProfileMaxStackLevel"), c.value("ChargingScheduleMaxPeriods"))
    else:
        n = sc.clear(p.get("id"), p.get("connectorId"), p.get("chargingProfilePurpose"), p.get("stackLevel"))
        status = "Accepted" if n else "Unknown"
    applied.dirty = True
    applied.step(cp)
    return {"status": status}


def composite(cp, p):
    """GetCompositeSchedule: the composite of connector 0 or 1 (the same:
    one connector) for ``duration`` s from now; periods without any
    profile give the charger's own maximum."""
    connector, duration, unit = p.get("connectorId"), p.get("duration"), p.get("chargingRateUnit") or "A"
    if connector not in (0, 1) or isinstance(duration, bool) or not isinstance(duration, int) or duration < 0 or \
            unit not in ("A", "W"):
        return {"status": "Rejected"}
    applied = cp.smart()
    m = cp.m
    uptime = cp._uptime()
    now = cp._epoch()
    volts = m.kernel.params.nominal_voltage
    phases = m.phases()
    rating = m.kernel.params.max_current_a
    periods = []
    for at, amps, ph in applied.sc.schedule(now, applied.elapsed(cp, uptime), cp.tx_id(), volts, phases,
                                            duration, cp.config.value("ChargingScheduleMaxPeriods")):
        n = _phases(ph, phases) if ph else phases
        amps = rating if amps is None else min(amps, rating)
        limit = round(amps, 1) if unit == "A" else round(amps * volts * n)  # A to 0.1 A, W to the watt
        periods.append({"startPeriod": at, "limit": int(limit) if limit == int(limit) else limit, "numberPhases": n})
    schedule = {"duration": duration, "chargingRateUnit": unit, "chargingSchedulePeriod": periods}
    answer = {"status": "Accepted", "connectorId": connector, "chargingSchedule": schedule}
    if now is not None:
        answer["scheduleStart"] = schedule["startSchedule"] = timefmt.format(now)
    return answer
