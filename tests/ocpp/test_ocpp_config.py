"""OCPP configuration keys (firmware/ocpp/config.py): every key read and
written, read-only and bad values refused without a change, keys that need
a restart, unknown keys, persistence through restarts and power cuts, and
Eaton's vendor keys hooked to the charger's own settings (the real
app.config.ConfigStore). Runs under CPython and, through
test_ocpp_micropython.py, the 64- and 32-bit MicroPython unix ports."""

from flashdir import fresh, read, write, exists
from app.config import ConfigStore
from ocpp.config import OcppConfig, KEYS, HOOKED, settings_hooks

# A valid value other than the default, per writable own key.
NEW = dict(
    AllowOfflineTxForUnknownId="true",
    AuthorizationCacheEnabled="false",
    ClockAlignedDataInterval="900",
    ConnectionTimeOut="60",
    ConnectorPhaseRotation="0.RST,1.STR",
    HeartbeatInterval="300",
    LocalAuthorizeOffline="false",
    LocalPreAuthorize="TRUE",
    LocalAuthListEnabled="false",
    MeterValuesAlignedData="Energy.Active.Import.Register,Voltage",
    MeterValuesSampledData="Energy.Active.Import.Register, Power.Active.Import,Current.Import,Current.Offered,Voltage",
    MeterValueSampleInterval="60",
    StopTransactionOnEVSideDisconnect="false",
    StopTxnAlignedData="Energy.Active.Import.Register",
    StopTxnSampledData="",
    TransactionMessageAttempts="3",
    TransactionMessageRetryInterval="30",
    UnlockConnectorOnEVSideDisconnect="false",
    WebSocketPingInterval="0",
    RetryBackoffRandomRange="20",
    RetryBackoffWaitMinimum="30",
    RetryRepeatTimes="2",
    EnabledDataTransfer="PlugType, StopSource",
)
TYPED = dict(
    LocalPreAuthorize=True,
    EnabledDataTransfer="PlugType,StopSource",
    MeterValuesSampledData="Energy.Active.Import.Register,Power.Active.Import,Current.Import,Current.Offered,Voltage",
)
BAD = dict(
    bool=("yes", "1", "", "truee"),
    int=("", "ten", "1.5", "1e3", "-", "99999999999", " 10"),
    csl=("Energy", "Voltage,Bogus", "Voltage,Voltage,Voltage,Voltage,Voltage,Voltage"),
    rot=("RST", "1.XYZ", "2.RST", "1.RST,"),
    dt=("ChargeError", "PlugType,Bogus", "plugtype"),
)


def _config(hooks=None):
    return OcppConfig(fresh() + "/ocpp.json", hooks=hooks)


def _typed(key, text):
    if key in TYPED:
        return TYPED[key]
    kind = KEYS[key][0]
    if kind == "int":
        return int(text)
    if kind == "bool":
        return text.lower() == "true"
    return text


def test_every_key_reads_with_its_default_and_access():
    entries, unknown = _config().get()
    assert unknown == []
    assert [e["key"] for e in entries] == list(KEYS)
    for e in entries:
        kind, writable, default = KEYS[e["key"]][:3]
        assert e["readonly"] is (not writable)
        assert e["value"] == (("true" if default else "false") if kind == "bool" else str(default))
    by_key = dict((e["key"], e["value"]) for e in entries)
    # Eaton's table 4 defaults, where it gives one.
    assert by_key["HeartbeatInterval"] == "600" and by_key["MeterValueSampleInterval"] == "10"
    assert by_key["ConnectionTimeOut"] == "120" and by_key["TransactionMessageAttempts"] == "5"
    assert by_key["StopTransactionOnEVSideDisconnect"] == "true" and by_key["LocalAuthorizeOffline"] == "true"
    assert by_key["MeterValuesSampledData"] == "Energy.Active.Import.Register"
    assert by_key["NumberOfConnectors"] == "1" and by_key["AuthorizeRemoteTxRequests"] == "false"
    assert int(by_key["GetConfigurationMaxKeys"]) >= len(KEYS) + len(HOOKED)


def test_asked_keys_come_back_and_unknown_ones_are_named():
    c = _config()
    entries, unknown = c.get(["HeartbeatInterval", "NoSuchKey", "CsMode", "LightIntensity"])
    assert entries == [{"key": "HeartbeatInterval", "readonly": False, "value": "600"}]
    # CsMode: a vendor key without its hook; LightIntensity: no light on this charger.
    assert unknown == ["NoSuchKey", "CsMode", "LightIntensity"]
    assert c.change("NoSuchKey", "1") == "NotSupported"
    assert c.change("CsMode", "1") == "NotSupported"


def test_every_writable_key_is_written_typed_and_survives_a_restart():
    c = _config()
    for key in KEYS:
        if not KEYS[key][1]:
            continue
        assert key in NEW, key  # every writable key is exercised
        reboot = KEYS[key][5] & 1
        before = c.value(key)
        assert c.change(key, NEW[key]) == ("RebootRequired" if reboot else "Accepted"), key
        expected = _typed(key, NEW[key])
        shown = dict((e["key"], e["value"]) for e in c.get([key])[0])[key]
        assert shown == ("true" if expected is True else "false" if expected is False else str(expected))
        assert c.value(key) == (before if reboot else expected), key
    again = OcppConfig(c.path)
    for key in NEW:
        assert again.value(key) == _typed(key, NEW[key]), key  # after the restart, the new values


def test_read_only_keys_are_rejected_and_unchanged():
    c = _config()
    for key in KEYS:
        if KEYS[key][1]:
            continue
        before = c.get([key])[0]
        assert c.change(key, before[0]["value"]) == "Rejected", key
        assert c.get([key])[0] == before
    assert not exists(c.path)  # nothing was even written


def test_bad_values_are_rejected_and_change_nothing():
    c = _config()
    c.change("HeartbeatInterval", "120")
    stored = read(c.path)
    cases = [("HeartbeatInterval", "5"), ("HeartbeatInterval", "86401"), ("MeterValueSampleInterval", "-1"),
             ("TransactionMessageAttempts", "0"), ("HeartbeatInterval", 300), ("HeartbeatInterval", None),
             ("MeterValuesSampledData", "x" * 501)]
    for key in NEW:
        for text in BAD.get(KEYS[key][0], ()):
            cases.append((key, text))
    for key, text in cases:
        status, why = c.change_why(key, text)
        assert status == "Rejected" and why, (key, text)
    assert read(c.path) == stored
    assert c.value("HeartbeatInterval") == 120


def test_a_key_that_needs_a_restart_keeps_its_value_until_then():
    c = _config()
    assert c.change("RetryRepeatTimes", "3") == "RebootRequired"
    assert c.value("RetryRepeatTimes") == 9  # the running connection keeps its backoff
    assert c.get(["RetryRepeatTimes"])[0][0]["value"] == "3"
    assert OcppConfig(c.path).value("RetryRepeatTimes") == 3
    assert c.change("RetryRepeatTimes", "9") == "RebootRequired"  # back to the default: not stored
    assert OcppConfig(c.path).value("RetryRepeatTimes") == 9


def test_a_corrupt_or_tampered_file_gives_defaults_for_what_is_wrong():
    c = _config()
    write(c.path, b"{")
    assert OcppConfig(c.path).value("HeartbeatInterval") == 600
    write(c.path, b'{"HeartbeatInterval": "7", "MeterValueSampleInterval": "30", "NumberOfConnectors": "2", "X": 1}')
    again = OcppConfig(c.path)
    assert again.value("HeartbeatInterval") == 600  # out of range: the default
    assert again.value("MeterValueSampleInterval") == 30
    assert again.value("NumberOfConnectors") == 1  # read-only: never from the file


def test_a_power_cut_at_every_byte_of_a_write_leaves_the_old_values():
    c = _config()
    c.change("HeartbeatInterval", "120")
    old = read(c.path)
    c.change("MeterValueSampleInterval", "30")
    new = read(c.path)
    for k in range(len(new) + 1):  # the .tmp cut at byte k (or whole), the rename not done
        write(c.path, old)
        write(c.path + ".tmp", new[:k])
        cut = OcppConfig(c.path)
        assert cut.value("HeartbeatInterval") == 120 and cut.value("MeterValueSampleInterval") == 10, k
        assert cut.change("WebSocketPingInterval", "30") == "Accepted"  # and it writes on over the leftover
    write(c.path, new)
    again = OcppConfig(c.path)
    assert again.value("HeartbeatInterval") == 120 and again.value("MeterValueSampleInterval") == 30


def _settings():
    return ConfigStore(fresh() + "/config.json")


def test_vendor_keys_are_the_chargers_own_settings():
    settings = _settings()
    c = _config(settings_hooks(settings, dict(VendorId="OpenEVSE", ModelId="sim", SerialNumber="SN1")))
    entries, unknown = c.get(["CsMode", "MaxCurrentLimit", "VendorId", "BoxId"])
    assert unknown == []
    values = dict((e["key"], (e["value"], e["readonly"])) for e in entries)
    assert values == {"CsMode": ("1", False), "MaxCurrentLimit": ("16", False), "VendorId": ("OpenEVSE", True),
                      "BoxId": ("", False)}
    # CsMode 0 (Authenticated): no autostart, a session waits for authorization.
    assert c.change("CsMode", "0") == "Accepted" and settings["ChargeAutoStart"] is False
    assert c.change("CsMode", "1") == "Accepted" and settings["ChargeAutoStart"] is True
    assert c.change("CsMode", "2") == "Rejected" and settings["ChargeAutoStart"] is True
    assert c.change("MaxCurrentLimit", "20") == "Accepted" and settings["ChargeCurrent"] == 20
    assert c.change("MaxCurrentLimit", "81") == "Rejected" and settings["ChargeCurrent"] == 20
    assert c.change("GridMaxCurrentPerPhase", "32") == "Accepted" and settings["PhaseCurrentLimit"] == 32
    assert c.change("LoadBalancingFallbackCurrent", "0") == "Accepted" and settings["LoadFallbackA"] == 0
    # The settings' own rules hold: a site power limit needs a site meter.
    status, why = c.change_why("GridMaxPower", "11")
    assert status == "Rejected" and "site meter" in why and settings["ControlLimit"] == 0
    assert settings.update({"Meter2Type": 1}) == {}
    assert c.change("GridMaxPower", "11") == "Accepted" and settings["ControlLimit"] == 11000
    assert c.value("GridMaxPower") == 11
    # The connection's identity applies at the next restart.
    assert c.change("BoxId", "box-14452") == "RebootRequired" and settings["OcppBoxId"] == "box-14452"
    assert c.change("BoxId", "no spaces") == "Rejected" and settings["OcppBoxId"] == "box-14452"
    status, why = c.change_why("Endpoint", "ws://cs.example.com/ocpp")  # profile 2 needs wss://
    assert status == "Rejected" and "wss://" in why and settings["OcppEndpoint"] == ""
    assert c.change("VendorId", "Other") == "Rejected"
    # How the charger is wired to the grid is SupplyPhaseL1 (load management's too).
    assert c.get(["ConnectorPhaseRotation"])[0] == [{"key": "ConnectorPhaseRotation", "readonly": False, "value": "1.RST"}]
    assert c.change("ConnectorPhaseRotation", "0.STR,1.STR") == "Accepted" and settings["SupplyPhaseL1"] == 2
    for bad in ("1.RTS", "0.RST,1.STR", "1.Unknown", "1.XYZ"):
        status, why = c.change_why("ConnectorPhaseRotation", bad)
        assert status == "Rejected" and why and settings["SupplyPhaseL1"] == 2, bad
    assert [e["key"] for e in c.get()[0]].count("ConnectorPhaseRotation") == 1
    # And what the hooks wrote is the settings file's, after a restart too.
    again = ConfigStore(settings.path)
    assert again["ChargeCurrent"] == 20 and again["OcppBoxId"] == "box-14452" and again["ControlLimit"] == 11000


def test_a_hook_for_a_key_that_does_not_exist_is_a_programming_error():
    try:
        _config({"NoSuchKey": (lambda: 1, None)})
    except ValueError as e:
        assert "NoSuchKey" in str(e)
    else:
        raise AssertionError("accepted a hook for an unknown key")
