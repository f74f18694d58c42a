"""WebAPI v1 over real HTTP, against the firmware running under the
MicroPython unix port (``evsectl sim``): every endpoint, every bad input."""

import json
import time

import pytest

from simclient import DOWN

API = "/webapi/v1/"

STATUS_KEYS = {
    "TimeStamp": int, "SystemVersion": str, "WiFiInfo": str, "EvseState": int,
    "ThreePhaseCharging": bool, "ActualCurrent": int, "PPCodedCurrent": int, "ActualPower": int,
    "ActualPowerAvailable": int, "ActualEnergy": int, "ActualDuration": str,
    "ActualDurationTotalSeconds": int, "AutoStartAllowed": bool, "StartStopAllowed": bool,
    "BoostAllowed": bool, "ChargerStarted": bool, "ChargeBoosted": bool,
    "Meter1Status": int, "Meter2Status": int,
}
CONFIG_KEYS = {
    "TimeStamp": int, "SystemVersion": str, "ChargerMode": int, "LockMethod": int,
    "ChargeCurrent": int, "ChargeCurrentBoost": int, "Meter1Type": int, "Meter1Ip": str,
    "Meter2Type": int, "Meter2Ip": str, "PhaseCurrentLimit": int, "ControlStrategy": int,
    "ControlLimit": int, "ChargeAutoStart": bool, "Charge3Phase": bool,
}
INFO_KEYS = {
    "TimeStamp": int, "SystemVersion": str, "ProductType": str, "MAC": str, "WiFiInfo": str,
    "HeapInfo": str, "GeneralInfo": str, "OTAMsg": str, "OTACheckAllowed": bool, "OTAUpdateAllowed": bool,
}


def assert_keys(body, spec):
    for key, kind in spec.items():
        assert key in body, key
        assert type(body[key]) is kind, (key, body[key])


def config_of(sim):
    return sim.ok(sim.get(API + "SystemConfig"))


# -- reading ---------------------------------------------------------------------


def test_status_has_every_key_of_the_original_with_its_type(sim):
    status = sim.status()
    assert_keys(status, STATUS_KEYS)
    assert status["EvseState"] == 1  # EVSE_IDLE_A1_A2 once the self-test is done
    assert status["SystemVersion"].count(".") == 2
    assert status["ActualDuration"] == "00h:00m:00s"
    ssid, percent = status["WiFiInfo"].rsplit(":", 1)
    assert ssid and percent.endswith("%")


def test_timestamp_is_milliseconds_since_start(sim):
    first = sim.status()["TimeStamp"]
    sim.advance(1500)
    assert sim.status()["TimeStamp"] == first + 1500


def test_meters_have_the_original_structure_and_nothing_invented(sim):
    for n in (1, 2):
        body = sim.ok(sim.get(API + "Meter%d" % n))
        assert list(body) == ["Meter%d" % n]
        meter = body["Meter%d" % n]
        assert isinstance(meter["TimeStamp"], int)
        assert meter["ModbusData"] == {}  # no meter configured: no data


def test_system_config_shows_every_setting_and_no_secret(sim):
    sim.config(AdminPassword="s3cret-pw", WiFiSSID="home", WiFiPassword="wifi-pass-123")
    body = config_of(sim)  # GETs need no password
    assert_keys(body, CONFIG_KEYS)
    text = json.dumps(body)
    assert "s3cret-pw" not in text and "wifi-pass-123" not in text
    assert "AdminPasswordHash" not in body and "WiFiPassword" not in body and "AdminPassword" not in body
    assert body["AdminPasswordSet"] is True and body["WiFiPasswordSet"] is True


def test_system_info_reports_version_network_heap_and_update_state(sim):
    info = sim.ok(sim.get(API + "SystemInfo"))
    assert_keys(info, INFO_KEYS)
    assert len(info["MAC"].split(":")) == 6
    assert ",RSSI:" in info["WiFiInfo"] and info["WiFiInfo"].endswith("%")
    low, free = info["HeapInfo"].split("/")
    assert int(low, 16) <= int(free, 16) and int(free, 16) > 0  # real figures from gc
    assert info["GeneralInfo"] == "System: no faults"
    assert info["OTAMsg"] == "No update server configured"
    assert info["OTACheckAllowed"] is False and info["OTAUpdateAllowed"] is False


# -- SystemConfig writes -------------------------------------------------------------


def test_a_valid_write_is_applied_and_answered_with_the_new_settings(sim):
    body = sim.config(ChargeCurrent=10, ChargeAutoStart=False, Charge3Phase=False, ChargerMode=1, LockMethod=0)
    assert body["ChargeCurrent"] == 10 and body["ChargeAutoStart"] is False and body["ChargerMode"] == 1
    assert config_of(sim)["ChargeCurrent"] == 10
    assert sim.status()["ThreePhaseCharging"] is False


def test_charger_mode_cannot_change_while_a_vehicle_is_connected(sim):
    """Issue 20 item 3: the mode in force stays until the vehicle leaves."""
    sim.vehicle(State="B")
    sim.advance(500)
    r = sim.post(API + "SystemConfig", {"ChargerMode": 1})
    assert r.status == 409 and "connected" in r.json["Errors"]["ChargerMode"]
    assert config_of(sim)["ChargerMode"] == 0
    assert sim.config(ChargerMode=0, ChargeCurrent=12)["ChargeCurrent"] == 12  # unchanged: fine
    sim.vehicle(State="A")
    sim.advance(500)
    assert sim.config(ChargerMode=1)["ChargerMode"] == 1


def test_settings_written_too_often_are_refused_429_and_change_nothing(sim):
    """Issue 19: each settings write is a flash erase on an ESP32, which
    stalls the control tick; a burst of 10 goes through, then one a second.
    An invalid write costs nothing and is still told why."""
    written = []
    while True:  # writes as fast as a client can: at most one a second refills
        current = 6 + len(written) % 10
        r = sim.post(API + "SystemConfig", {"ChargeCurrent": current})
        if r.status == 429:
            break
        assert r.status == 200 and len(written) < 40
        written.append(current)
        assert sim.post(API + "SystemConfig", {"ChargeCurrent": 99}).status == 400  # costs nothing
    assert len(written) >= 10
    assert r.headers["Retry-After"] == "1" and "SystemConfig" in r.json["Errors"]
    assert config_of(sim)["ChargeCurrent"] == written[-1]
    time.sleep(1.1)  # the budget refills on the real clock, whatever the simulator's
    assert sim.config(ChargeCurrent=20)["ChargeCurrent"] == 20


def test_lock_method_is_the_board_files(sim):
    """Issue 12: LockMethod and the board's lock.type cannot disagree: the
    board decides (boards/sim.json: a solenoid, LockMethod 0)."""
    assert config_of(sim)["LockMethod"] == 0
    r = sim.post(API + "SystemConfig", {"LockMethod": 1})
    assert r.status == 400 and "board file" in r.json["Errors"]["LockMethod"]
    assert sim.config(LockMethod=0)["LockMethod"] == 0


BAD_CONFIG = [
    ({"ChargeCurrent": 5}, "ChargeCurrent", "between 6 and 80"),
    ({"ChargeCurrent": 81}, "ChargeCurrent", "between 6 and 80"),
    ({"ChargeCurrent": "16"}, "ChargeCurrent", "number"),
    ({"ChargeCurrent": 16.5}, "ChargeCurrent", "whole"),
    ({"ChargeCurrent": True}, "ChargeCurrent", "number"),
    ({"ChargeCurrentBoost": 100}, "ChargeCurrentBoost", "between"),
    ({"ChargerMode": 2}, "ChargerMode", "between 0 and 1"),
    ({"LockMethod": -1}, "LockMethod", "between 0 and 1"),
    ({"Meter1Type": 7}, "Meter1Type", "between 0 and 6"),
    ({"Meter2Type": 8}, "Meter2Type", "between 0 and 7"),
    ({"ControlStrategy": 2}, "ControlStrategy", "between 0 and 1"),
    ({"ControlLimit": -1}, "ControlLimit", "between"),
    ({"PhaseCurrentLimit": 0}, "PhaseCurrentLimit", "between"),
    ({"ChargeAutoStart": 1}, "ChargeAutoStart", "true or false"),
    ({"Charge3Phase": "yes"}, "Charge3Phase", "true or false"),
    ({"Meter1Ip": "192.168.0"}, "Meter1Ip", "IPv4"),
    ({"Meter2Ip": "300.1.1.1"}, "Meter2Ip", "IPv4"),
    ({"Meter1Ip": 12}, "Meter1Ip", "string"),
    ({"Meter1Type": 4}, "Meter1Type", "IP"),
    ({"Meter2Type": 7}, "Meter2Type", "IP"),
    ({"Meter1Type": 4, "Meter1Ip": "nonsense"}, "Meter1Ip", "IPv4"),
    ({"DeviceName": ""}, "DeviceName", "characters"),
    ({"WiFiPassword": "short"}, "WiFiPassword", "characters"),
    ({"Colour": "red"}, "Colour", "unknown key"),
]


@pytest.mark.parametrize("body,key,reason", BAD_CONFIG)
def test_a_bad_setting_is_refused_with_its_reason_and_changes_nothing(sim, body, key, reason):
    before = config_of(sim)
    # A valid change alongside the bad one must not be applied either.
    r = sim.post(API + "SystemConfig", dict(body, ChargeCurrent=body.get("ChargeCurrent", 7)))
    assert r.status == 400
    assert reason in r.json["Errors"][key]
    after = config_of(sim)
    for k in CONFIG_KEYS:
        if k != "TimeStamp":
            assert after[k] == before[k], k


def test_every_bad_key_is_named_at_once(sim):
    r = sim.post(API + "SystemConfig", {"ChargeCurrent": 99, "Meter1Type": 4, "Foo": 1})
    assert r.status == 400
    assert set(r.json["Errors"]) == {"ChargeCurrent", "Meter1Type", "Foo"}


def test_ip_meter_types_go_with_a_valid_address(sim):
    body = sim.config(Meter1Type=4, Meter1Ip="192.168.0.30")
    assert body["Meter1Type"] == 4 and body["Meter1Ip"] == "192.168.0.30"
    r = sim.post(API + "SystemConfig", {"Meter1Ip": ""})
    assert r.status == 400 and "Meter1Ip" in r.json["Errors"]
    sim.config(Meter2Type=7, Meter2Ip="10.0.0.2")
    assert config_of(sim)["Meter2Type"] == 7


@pytest.mark.parametrize("path", ["SystemConfig", "EvseCtrl", "SystemInfo"])
def test_malformed_and_non_object_bodies_are_refused(sim, path):
    for raw in (b"{bad json", b"[1, 2]", b"", b"\xff\xfe"):
        r = sim.post(API + path, raw=raw)
        assert r.status == 400, (raw, r)
        assert "body" in r.json["Errors"]
    assert sim.status()["EvseState"] == 1


def test_an_oversized_body_is_refused_with_413(sim):
    r = sim.post(API + "SystemConfig", raw=b'{"DeviceName": "' + b"x" * 5000 + b'"}')
    assert r.status == 413
    assert config_of(sim)["DeviceName"] == "EVSE"


@pytest.mark.parametrize(
    "method,path",
    [("POST", "Status"), ("PUT", "Status"), ("GET", "EvseCtrl"), ("DELETE", "SystemConfig"),
     ("PUT", "SystemInfo"), ("POST", "Meter1"), ("POST", "Meter2")],
)
def test_a_wrong_method_is_refused_with_405(sim, method, path):
    r = sim.request(method, API + path, raw=b"{}")
    assert r.status == 405
    assert "Errors" in r.json


def test_unknown_paths_are_404(sim):
    assert sim.get(API + "Nothing").status == 404


def test_settings_survive_a_restart(sim):
    sim.config(ChargeCurrent=12, DeviceName="garage")
    before = sim.status()["TimeStamp"]
    assert sim.ok(sim.post(API + "SystemInfo", {"SCode": "Reset", "SCodeData": ""})) == {"Reset": "Performing"}
    wait_restart(sim, before)
    assert config_of(sim)["ChargeCurrent"] == 12
    assert config_of(sim)["DeviceName"] == "garage"


def wait_restart(sim, before_ms, timeout=20):
    """Wait for the firmware to come back after a restart (its uptime starts again)."""
    deadline = time.monotonic() + timeout
    seen_down = False
    while time.monotonic() < deadline:
        try:
            r = sim.get(API + "Status")
            if r.status == 200 and (seen_down or r.json["TimeStamp"] < before_ms):
                return r.json
        except DOWN:
            seen_down = True
        time.sleep(0.1)
    raise TimeoutError("no restart")


# -- EvseCtrl ------------------------------------------------------------------------


def test_start_stop_and_boost_from_the_api(sim):
    sim.config(ChargeAutoStart=False, ChargeCurrent=10, ChargeCurrentBoost=20)
    r = sim.post(API + "EvseCtrl", {"ChargeStartToggle": True})
    assert r.status == 409 and "no vehicle" in r.json["Errors"]["ChargeStartToggle"]
    sim.vehicle(State="B")
    sim.advance(200)
    s = sim.status()
    assert s["StartStopAllowed"] and not s["ChargerStarted"] and not s["BoostAllowed"]
    assert sim.ctrl(ChargeStartToggle=True) == {"ChargerStarted": True}
    sim.vehicle(State="C")
    sim.advance(500)
    assert sim.board()["RelayClosed"] and sim.status()["ActualCurrent"] == 10
    assert sim.ctrl(ChargeBoostToggle=True) == {"ChargeBoosted": True}
    sim.advance(5100)
    s = sim.status()
    assert s["ChargeBoosted"] and s["ActualCurrent"] == 20
    assert sim.ctrl(ChargeStartToggle=True) == {"ChargerStarted": False}
    sim.advance(20)
    assert sim.board()["PwmDutyPermille"] == 1000  # PWM off at once


@pytest.mark.parametrize(
    "body,key",
    [({"ChargeStartToggle": 1}, "ChargeStartToggle"), ({"ChargeBoostToggle": "yes"}, "ChargeBoostToggle"),
     ({"EVSEPowerAvailable": "max"}, "EVSEPowerAvailable"), ({"EVSEPowerAvailable": -5}, "EVSEPowerAvailable"),
     ({"Start": True}, "Start")],
)
def test_bad_control_input_is_refused(sim, body, key):
    sim.vehicle(State="B")
    sim.advance(200)
    r = sim.post(API + "EvseCtrl", dict(body, ChargeStartToggle=body.get("ChargeStartToggle", True)))
    assert r.status == 400 and key in r.json["Errors"]
    assert sim.status()["ChargerStarted"] is True  # auto start, and the toggle was not applied


def test_power_available_caps_the_offer_under_power_limiting(sim):
    sim.config(ControlStrategy=1, ChargeCurrent=32)
    sim.ctrl(EVSEPowerAvailable=6900)  # 10 A on three phases
    sim.vehicle(State="C")
    sim.advance(1000)
    s = sim.status()
    assert s["ActualCurrent"] == 10 and s["ActualPowerAvailable"] == 6900


def test_status_names_the_source_whose_limit_the_offer_is(sim):
    assert sim.status()["ActualCurrentLimitSource"] == "Settings"
    sim.config(ChargeCurrent=40)  # above the simulated board's 32 A rating
    assert sim.status()["ActualCurrentLimitSource"] == "Rating"
    sim.config(ControlStrategy=1)
    sim.ctrl(EVSEPowerAvailable=6900)  # 10 A on three phases
    sim.vehicle(State="C")
    sim.advance(1000)
    s = sim.status()
    assert s["ActualCurrent"] == 10 and s["ActualCurrentLimitSource"] == "LoadManagement"


# -- SystemInfo service codes ------------------------------------------------------------


def test_factory_default_forgets_the_settings_and_restarts(sim):
    sim.config(ChargeCurrent=20, DeviceName="x1")
    before = sim.status()["TimeStamp"]
    assert sim.ok(sim.post(API + "SystemInfo", {"Scode": "FactoryDefault"})) == {"FactoryDefault": "Performing"}
    wait_restart(sim, before)
    body = config_of(sim)
    assert body["ChargeCurrent"] == 16 and body["DeviceName"] == "EVSE"


def test_wifi_set_to_ap_switches_once(sim):
    assert sim.ok(sim.post(API + "SystemInfo", {"SCode": "WiFiSetToAP", "SCodeData": ""})) == {"WiFiSetToAP": "Performing"}
    assert not sim.ok(sim.get(API + "SystemInfo"))["WiFiInfo"].startswith("SIM-WIFI")
    r = sim.post(API + "SystemInfo", {"SCode": "WiFiSetToAP"})
    assert r.status == 409


def test_update_toggles_say_no_server_is_configured(sim):
    body = sim.ok(sim.post(API + "SystemInfo", {"UpdateCheckToggle": True}))
    assert body["UpdateCheckToggle"] == "No update server configured"


@pytest.mark.parametrize(
    "body,key",
    [({"SCode": "SelfDestruct"}, "SCode"), ({"SCode": 5}, "SCode"), ({"UpdateRunToggle": "now"}, "UpdateRunToggle"),
     ({"SCode": "Reset", "Scode": "FactoryDefault"}, "Scode"), ({"Reboot": True}, "Reboot")],
)
def test_bad_service_requests_are_refused_and_nothing_restarts(sim, body, key):
    sim.advance(100)
    before = sim.status()["TimeStamp"]
    r = sim.post(API + "SystemInfo", body)
    assert r.status == 400 and key in r.json["Errors"]
    time.sleep(0.6)
    assert sim.status()["TimeStamp"] == before  # still the same run, virtual time unchanged


# -- admin password ----------------------------------------------------------------------


def test_admin_password_guards_every_post_but_not_gets(sim):
    sim.config(AdminPassword="open-sesame")
    for path, body in (("SystemConfig", {"ChargeCurrent": 8}), ("EvseCtrl", {"EVSEPowerAvailable": 1000}),
                       ("SystemInfo", {"SCode": "Reset"})):
        r = sim.post(API + path, body)
        assert r.status == 401 and "Basic" in r.headers.get("WWW-Authenticate", "")
        assert sim.post(API + path, body, auth=("admin", "wrong")).status == 401
    assert sim.get(API + "Status").status == 200
    assert config_of(sim)["ChargeCurrent"] == 16
    r = sim.post(API + "SystemConfig", {"ChargeCurrent": 8}, auth=("admin", "open-sesame"))
    assert r.status == 200 and r.json["ChargeCurrent"] == 8
    # Clearing the password opens the API again.
    sim.post(API + "SystemConfig", {"AdminPassword": ""}, auth=("admin", "open-sesame"))
    assert sim.post(API + "SystemConfig", {"ChargeCurrent": 9}).status == 200


# -- robustness --------------------------------------------------------------------------


def test_a_crashing_task_never_stops_the_control_task(sim_factory):
    proc = sim_factory(virtual_time=False)
    sim = proc.client
    assert sim.ok(sim.post("/sim/v1/Crash", {"Task": "housekeeping", "Error": "MemoryError"}))
    time.sleep(1.5)
    sim.vehicle(State="C")
    deadline = time.monotonic() + 5
    while not sim.board()["RelayClosed"]:
        assert time.monotonic() < deadline, "control task stopped"
        time.sleep(0.05)
    sim.vehicle(State="B")
    time.sleep(0.3)
    assert not sim.board()["RelayClosed"]
    assert "task housekeeping failed" in proc.output()


def test_ctrl_c_stops_a_charging_app_with_the_outputs_safe(sim_factory):
    """Interrupted (Ctrl-C in the simulator's terminal, or mpremote at a real
    board's REPL): the app opens the contactor on its way out. (A real board
    also stretches its watchdog: tests/test_esp32_hal.py.)"""
    proc = sim_factory(virtual_time=False)
    sim = proc.client
    sim.vehicle(State="C")
    deadline = time.monotonic() + 5
    while not sim.board()["RelayClosed"]:
        assert time.monotonic() < deadline, "never started charging"
        time.sleep(0.05)
    proc.stop()
    assert "main: interrupted (Ctrl-C), outputs safe" in proc.output()


def test_answers_are_written_in_pieces_yet_carry_their_exact_length(sim):
    """A client tells a whole answer from one cut short by its Content-Length,
    though the firmware writes the JSON member by member (app.jsonstream)."""
    sim.ok(sim.post("/webapi/v1/SystemConfig", {"DeviceName": "Garáž \u20ac"}))
    for name in ("Status", "SystemConfig", "SystemInfo", "Meter1"):
        r = sim.get("/webapi/v1/" + name)
        assert r.status == 200 and int(r.headers["Content-Length"]) == len(r.body.encode()), name
        assert r.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert sim.ok(sim.get("/webapi/v1/SystemConfig"))["DeviceName"] == "Garáž \u20ac"
