"""OCPP configuration keys: what GetConfiguration shows and
ChangeConfiguration may change (OCPP 1.6 section 9, Eaton Green Motion's
tables 4 and 5, ``../shared/seeds/eaton-green-motion-ocpp16j.pl.txt``).

Two kinds of keys:

* *Own* keys, held here: the standard keys of Eaton's table 4 that Eaton
  implements and that this charger honours, with Eaton's defaults and access,
  plus Eaton's connection vendor keys (RetryBackoff..., Version). Changed
  values are persisted by atomic replace (app.atomic): a power cut leaves the
  old file or the new one.
* *Hooked* keys, whose value lives elsewhere: Eaton's vendor keys for which
  this charger has the feature (CsMode is ChargeAutoStart, MaxCurrentLimit is
  ChargeCurrent, ...), and ConnectorPhaseRotation, which is SupplyPhaseL1. The charge point passes ``hooks`` (see
  ``settings_hooks`` for the ones backed by SystemConfig); a vendor key
  without a hook does not exist here and answers as unknown.

Values travel as strings in OCPP; ``value(key)`` gives the typed value (int,
bool, str) for the firmware's own use. A key that applies only after a restart
answers ``RebootRequired`` when changed: the new value is stored and shown by
GetConfiguration, but ``value()`` keeps the one the firmware booted with.
Unknown keys are reported as unknown, never an error; a bad value or a
read-only key is ``Rejected`` and changes nothing.
"""

import json

from app import log
from app.atomic import read_json, write_atomic

# Measurands this charger can sample (issue 13; Eaton's table 8 less the
# interval register, which needs clock-aligned intervals it does not keep).
MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Current.Offered", "Voltage")
_PHASE_ROTATIONS = ("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR")

# Eaton's DataTransfer messages (its table 7) that this charger sends (ocpp.eaton).
DATA_TRANSFERS = ("ChargeStopError", "PlugType", "RemoteShutOff", "StopSource")

# key: (type, writable, default, lowest, highest, flags). Types: "int" (lowest
# and highest bound it), "bool", "csl" (comma-separated measurands, at most
# ``highest`` of them), "dt" (comma-separated DATA_TRANSFERS), "rot"
# (ConnectorPhaseRotation), "str" (fixed text).
# Flags: 1 = applies after a restart.
#
# dict(Key=...) rather than {"Key": ...}: the key names become interned
# strings, not ~40-byte heap objects each (see app/config.py).
KEYS = dict(
    # Eaton table 4 (standard keys, the "Y" rows this charger has the feature for).
    AllowOfflineTxForUnknownId=("bool", 1, False, 0, 0, 0),
    AuthorizationCacheEnabled=("bool", 1, True, 0, 0, 0),  # Eaton has none ("N"); ours: ocpp.authcache
    AuthorizeRemoteTxRequests=("bool", 0, False, 0, 0, 0),
    ClockAlignedDataInterval=("int", 1, 0, 0, 86400, 0),
    ConnectionTimeOut=("int", 1, 120, 10, 600, 0),
    ConnectorPhaseRotation=("rot", 1, "1.RST", 0, 0, 0),
    GetConfigurationMaxKeys=("int", 0, 50, 0, 0, 0),
    HeartbeatInterval=("int", 1, 600, 10, 86400, 0),
    LocalAuthorizeOffline=("bool", 1, True, 0, 0, 0),
    LocalPreAuthorize=("bool", 1, False, 0, 0, 0),
    MeterValuesAlignedData=("csl", 1, "", 0, 5, 0),
    MeterValuesSampledData=("csl", 1, "Energy.Active.Import.Register", 0, 5, 0),
    MeterValueSampleInterval=("int", 1, 10, 0, 3600, 0),
    NumberOfConnectors=("int", 0, 1, 0, 0, 0),
    StopTransactionOnEVSideDisconnect=("bool", 1, True, 0, 0, 0),
    StopTxnAlignedData=("csl", 1, "", 0, 5, 0),
    StopTxnAlignedDataMaxLength=("int", 0, 5, 0, 0, 0),
    StopTxnSampledData=("csl", 1, "Energy.Active.Import.Register", 0, 5, 0),
    StopTxnSampledDataMaxLength=("int", 0, 5, 0, 0, 0),
    SupportedFeatureProfiles=("str", 0, "Core", 0, 0, 0),
    TransactionMessageAttempts=("int", 1, 5, 1, 20, 0),
    TransactionMessageRetryInterval=("int", 1, 5, 1, 3600, 0),
    UnlockConnectorOnEVSideDisconnect=("bool", 1, True, 0, 0, 0),
    WebSocketPingInterval=("int", 1, 60, 0, 3600, 0),
    ReserveConnectorZeroSupported=("bool", 0, False, 0, 0, 0),
    # Eaton table 4, Local Auth List Management (Eaton has none, "N"; ours: ocpp.locallist).
    LocalAuthListEnabled=("bool", 1, True, 0, 0, 0),
    LocalAuthListMaxLength=("int", 0, 200, 0, 0, 0),  # locallist.MAX_LENGTH: tags on flash
    SendLocalListMaxLength=("int", 0, 20, 0, 0, 0),  # locallist.SEND_MAX_LENGTH: tags in one message
    # Eaton table 5: its DataTransfer messages to send. None by default (Eaton's
    # default is all): a central system that does not speak Eaton's dialect
    # answers them UnknownVendorId, and ocpp.eaton would take heap at every
    # transaction for nothing.
    EnabledDataTransfer=("dt", 1, "", 0, 0, 0),
    # Eaton table 4, Smart Charging (Eaton's is "limited"; ours: ocpp.smartcharging).
    ChargeProfileMaxStackLevel=("int", 0, 8, 0, 0, 0),  # smartcharging.MAX_STACK_LEVEL
    ChargingScheduleAllowedChargingRateUnit=("str", 0, "Current,Power", 0, 0, 0),
    ChargingScheduleMaxPeriods=("int", 0, 24, 0, 0, 0),  # smartcharging.MAX_PERIODS
    MaxChargingProfilesInstalled=("int", 0, 8, 0, 0, 0),  # smartcharging.MAX_INSTALLED
    # Eaton table 5, the connection's own keys.
    RetryBackoffRandomRange=("int", 1, 6, 0, 600, 1),
    RetryBackoffWaitMinimum=("int", 1, 10, 1, 600, 1),
    RetryRepeatTimes=("int", 1, 9, 0, 100, 1),
    Version=("str", 0, "ocpp1.6", 0, 0, 0),
)

# Eaton table 5 keys backed by a hook: (type, writable, lowest, highest, flags).
HOOKED = dict(
    ConnectorPhaseRotation=("rot", 1, 0, 0, 0),  # a standard key, hooked to SupplyPhaseL1 when it can be
    BoxId=("str", 1, 1, 64, 1),
    BoxName=("str", 1, 1, 32, 0),
    CsMode=("int", 1, 0, 1, 0),  # 0 Authenticated, 1 Free (Plug&Start)
    Endpoint=("str", 1, 0, 200, 1),
    GridMaxCurrentPerPhase=("int", 1, 6, 1000, 0),  # A
    GridMaxPower=("int", 1, 0, 1000, 0),  # kW
    LoadBalancingFallbackCurrent=("int", 1, 0, 80, 0),  # A
    MaxCurrentLimit=("int", 1, 6, 80, 0),  # A
    ModelId=("str", 0, 0, 0, 0),
    SerialNumber=("str", 0, 0, 0, 0),
    VendorId=("str", 0, 0, 0, 0),
)

_MAX_VALUE = 500  # CiString500, GetConfiguration's and ChangeConfiguration's value


def _text(value):
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def parse(kind, lo, hi, text):
    """The typed value of ``text`` for a key of ``kind``, or raise
    ValueError with the reason."""
    if not isinstance(text, str) or len(text) > _MAX_VALUE:
        raise ValueError("must be a string of at most %d characters" % _MAX_VALUE)
    if kind == "bool":
        low = text.lower()
        if low not in ("true", "false"):
            raise ValueError("must be true or false")
        return low == "true"
    if kind == "int":
        digits = text[1:] if text[:1] == "-" else text
        if not digits or len(digits) > 9 or not digits.isdigit():
            raise ValueError("must be a whole number")
        n = int(text)
        if not lo <= n <= hi:
            raise ValueError("must be between %d and %d" % (lo, hi))
        return n
    if kind == "csl":
        items = [m.strip() for m in text.split(",")] if text.strip() else []
        if len(items) > hi:
            raise ValueError("at most %d measurands" % hi)
        for m in items:
            if m not in MEASURANDS:
                raise ValueError("unknown measurand %s: one of %s" % (m, ",".join(MEASURANDS)))
        return ",".join(items)
    if kind == "dt":
        items = [m.strip() for m in text.split(",")] if text.strip() else []
        for m in items:
            if m not in DATA_TRANSFERS:
                raise ValueError("%s is not a DataTransfer this charger sends: %s" % (m, ",".join(DATA_TRANSFERS)))
        return ",".join(items)
    if kind == "rot":
        for item in text.split(","):
            connector, dot, rotation = item.strip().partition(".")
            if not dot or not connector.isdigit() or int(connector) > 1 or rotation not in _PHASE_ROTATIONS:
                raise ValueError("must be like 0.RST,1.RST (connector 0 or 1; %s)" % ",".join(_PHASE_ROTATIONS))
        return text
    if not lo <= len(text) <= hi:
        raise ValueError("must be %d to %d characters long" % (lo, hi))
    for ch in text:
        if ord(ch) < 32:
            raise ValueError("must not contain control characters")
    return text


class OcppConfig:
    """The configuration keys, persisted in ``path``.

    ``hooks``: {key of HOOKED: (get, set)}: ``get()`` -> the typed value,
    ``set(typed_value)`` -> None when done, or a reason (str) why not (the
    answer is then Rejected and nothing changed). ``set`` may be None for a
    read-only hooked key. ``profiles``: SupportedFeatureProfiles, as the charge
    point implements them.
    """

    def __init__(self, path="ocpp.json", hooks=None, profiles=None):
        self.path = path
        self.hooks = hooks or {}
        for key in self.hooks:
            if key not in HOOKED:
                raise ValueError("no OCPP key %s to hook" % key)
        self.profiles = profiles
        self.stored = {}  # own keys changed from their default, typed
        stored = read_json(path)
        for key in stored:
            spec = KEYS.get(key)
            try:
                if spec is None or not spec[1]:
                    raise ValueError("not a writable key")
                value = stored[key]
                self.stored[key] = parse(spec[0], spec[3], spec[4], value if isinstance(value, str) else _text(value))
            except ValueError as e:
                log.warn("ocpp config: stored %s ignored (%s)" % (key, e))
        # What the firmware runs with until the next restart, for keys that
        # apply only then.
        self.booted = {}
        for key in self.stored:
            if KEYS[key][5] & 1:
                self.booted[key] = self.stored[key]

    def _own(self, key):
        if key == "SupportedFeatureProfiles" and self.profiles:
            return self.profiles
        if key in self.stored:
            return self.stored[key]
        return KEYS[key][2]

    def known(self, key):
        return key in KEYS or key in self.hooks

    def value(self, key):
        """The typed value the firmware runs with (KeyError if unknown)."""
        if key in self.hooks:
            return self.hooks[key][0]()
        spec = KEYS[key]
        if spec[5] & 1:
            return self.booted.get(key, spec[2])
        return self._own(key)

    def _entry(self, key):
        if key in self.hooks:
            getter, setter = self.hooks[key]
            readonly = not (HOOKED[key][1] and setter)
            value = getter()
        else:
            readonly = not KEYS[key][1]
            value = self._own(key)
        return {"key": key, "readonly": readonly, "value": _text(value)}

    def get(self, keys=None):
        """GetConfiguration: (list of {"key", "readonly", "value"}, unknown
        keys). ``keys`` None or empty: every key."""
        if not keys:
            names = list(KEYS) + [k for k in HOOKED if k in self.hooks and k not in KEYS]
            return [self._entry(k) for k in names], []
        found = []
        unknown = []
        for key in keys:
            if self.known(key):
                found.append(self._entry(key))
            else:
                unknown.append(key)
        return found, unknown

    def change(self, key, text):
        """ChangeConfiguration: "Accepted", "RebootRequired", "Rejected" (a
        read-only key or a bad value: nothing changed) or "NotSupported" (an
        unknown key)."""
        return self.change_why(key, text)[0]

    def change_why(self, key, text):
        """(status, reason): change() and, when Rejected, why (for the log)."""
        if key in self.hooks:
            kind, writable, lo, hi, flags = HOOKED[key]
            setter = self.hooks[key][1]
            if not (writable and setter):
                return "Rejected", "read-only"
            try:
                value = parse(kind, lo, hi, text)
            except ValueError as e:
                return "Rejected", str(e)
            reason = setter(value)
            if reason:
                return "Rejected", reason
            return ("RebootRequired" if flags & 1 else "Accepted"), None
        spec = KEYS.get(key)
        if spec is None:
            return "NotSupported", "unknown key"
        kind, writable, default, lo, hi, flags = spec
        if not writable:
            return "Rejected", "read-only"
        try:
            value = parse(kind, lo, hi, text)
        except ValueError as e:
            return "Rejected", str(e)
        stored = dict(self.stored)  # a new dict: the old one stays whole if the write fails
        if value == default:
            stored.pop(key, None)
        else:
            stored[key] = value
        self._save(stored)
        self.stored = stored
        return ("RebootRequired" if flags & 1 else "Accepted"), None

    def _save(self, stored):
        write_atomic(self.path, json.dumps(stored))


# SupplyPhaseL1 1, 2, 3: the site phase the charger's L1 is wired to, L2
# and L3 following in rotation; as OCPP says it, connector phases L1 L2 L3 on
# grid phases R S T, S T R, T R S.
_ROTATIONS = ("RST", "STR", "TRS")


def _phase_l1(text):
    """The SupplyPhaseL1 that a ConnectorPhaseRotation value says; ValueError
    for a wiring this charger cannot have."""
    wanted = 0
    for item in text.split(","):
        rotation = item.strip().partition(".")[2]
        n = _ROTATIONS.index(rotation) + 1 if rotation in _ROTATIONS else 0
        if not n or wanted and n != wanted:
            raise ValueError("this charger's phases follow in rotation: RST, STR or TRS (SupplyPhaseL1 1-3), one for all")
        wanted = n
    return wanted


# Vendor key: (the setting behind it, how its value converts: 0 as it is,
# 1 CsMode/ChargeAutoStart, 2 kW/W, 3 ConnectorPhaseRotation/SupplyPhaseL1).
_SETTINGS = dict(
    ConnectorPhaseRotation=("SupplyPhaseL1", 3),
    BoxId=("OcppBoxId", 0),
    BoxName=("DeviceName", 0),
    CsMode=("ChargeAutoStart", 1),
    Endpoint=("OcppEndpoint", 0),
    GridMaxCurrentPerPhase=("PhaseCurrentLimit", 0),
    GridMaxPower=("ControlLimit", 2),
    LoadBalancingFallbackCurrent=("LoadFallbackA", 0),
    MaxCurrentLimit=("ChargeCurrent", 0),
)


class SettingsHooks:
    """Hooks for the vendor keys backed by SystemConfig, as OcppConfig takes
    them ({key: (get, set)}), made when asked for rather than held: a
    closure pair per key would be some 1.5 KB of heap on 32-bit for as long
    as OCPP runs.

    ``settings`` is the charger's settings store (``store[key]``,
    ``store.update(changes)`` -> {key: reason}, as app.config.ConfigStore),
    so a change is validated and persisted exactly as a WebAPI write is.
    ``info``: {"ModelId", "SerialNumber", "VendorId"} -> text, the read-only
    identity keys."""

    def __init__(self, settings, info=None):
        self.settings = settings
        self.info = info or {}

    def __iter__(self):
        for key in _SETTINGS:
            yield key
        for key in self.info:
            yield key

    def __contains__(self, key):
        return key in _SETTINGS or key in self.info

    def __getitem__(self, key):
        if key in self.info:
            return (lambda: self.info[key]), None
        if key not in _SETTINGS:
            raise KeyError(key)
        return (lambda: self.get(key)), (lambda value: self.set(key, value))

    def get(self, key):
        name, how = _SETTINGS[key]
        v = self.settings[name]
        if how == 1:
            return 1 if v else 0
        if how == 2:
            return v // 1000
        if how == 3:
            return "1." + _ROTATIONS[v - 1]
        return v

    def set(self, key, value):
        """None when the setting took ``value``, else why not."""
        name, how = _SETTINGS[key]
        if how == 1:
            value = value == 1
        elif how == 2:
            value = value * 1000
        elif how == 3:
            try:
                value = _phase_l1(value)
            except ValueError as e:
                return str(e)
        errors = self.settings.update({name: value})
        return errors.get(name) or (errors and "; ".join(errors.values())) or None


def settings_hooks(settings, info=None):
    """The hooks of the vendor keys backed by ``settings`` (see SettingsHooks)."""
    return SettingsHooks(settings, info)
