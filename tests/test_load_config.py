"""SystemConfig and SystemInfo as load management and its installers need
them (issue 12): a whole object written back, limits nothing measures
refused, the supply phase setting, the WiFi signal as the original shows it.
The firmware under MicroPython in the simulator."""

import pytest

from app.webapi import rssi_percent

API = "/webapi/v1/"


def config_of(sim):
    return sim.ok(sim.get(API + "SystemConfig"))


def test_a_whole_object_read_changed_and_written_back_is_accepted(sim):
    body = config_of(sim)
    body["ChargeCurrent"] = 12
    sim.advance(1000)  # the TimeStamp sent back is that of the GET
    after = sim.ok(sim.post(API + "SystemConfig", body))
    assert after["ChargeCurrent"] == 12
    assert after["SystemVersion"] == body["SystemVersion"]
    assert after["TimeStamp"] > body["TimeStamp"]


@pytest.mark.parametrize(
    "key,value",
    [("SystemVersion", "9.9.9"), ("AdminPasswordSet", True), ("WiFiPasswordSet", True), ("TimeStamp", -1), ("TimeStamp", "x")],
)
def test_a_read_only_member_changed_is_refused_and_changes_nothing(sim, key, value):
    body = config_of(sim)
    body["ChargeCurrent"] = 12
    body[key] = value
    r = sim.post(API + "SystemConfig", body)
    assert r.status == 400 and "read-only" in r.json["Errors"][key]
    assert config_of(sim)["ChargeCurrent"] == 16


def test_read_only_and_invalid_settings_are_named_together(sim):
    r = sim.post(API + "SystemConfig", {"SystemVersion": "x", "ChargeCurrent": 99})
    assert r.status == 400 and set(r.json["Errors"]) == {"SystemVersion", "ChargeCurrent"}


def test_control_limit_without_a_site_meter_is_refused(sim):
    r = sim.post(API + "SystemConfig", {"ControlStrategy": 1, "ControlLimit": 11000})
    assert r.status == 400 and "Meter2Type 1..6" in r.json["Errors"]["ControlLimit"]
    assert config_of(sim)["ControlLimit"] == 0 and config_of(sim)["ControlStrategy"] == 0
    # Remote control (type 7) measures nothing on the site either.
    r = sim.post(API + "SystemConfig", {"Meter2Type": 7, "Meter2Ip": "10.0.0.2", "ControlLimit": 11000})
    assert r.status == 400 and "ControlLimit" in r.json["Errors"]
    # With a site meter it is taken; the meter cannot then be removed under it.
    sim.config(Meter2Type=1, ControlLimit=11000)
    r = sim.post(API + "SystemConfig", {"Meter2Type": 0})
    assert r.status == 400 and "ControlLimit" in r.json["Errors"]["Meter2Type"]
    assert sim.config(Meter2Type=0, ControlLimit=0)["Meter2Type"] == 0


def test_supply_phase_of_l1_is_a_setting(sim):
    assert config_of(sim)["SupplyPhaseL1"] == 1
    assert sim.config(SupplyPhaseL1=2)["SupplyPhaseL1"] == 2
    r = sim.post(API + "SystemConfig", {"SupplyPhaseL1": 4})
    assert r.status == 400 and "between 1 and 3" in r.json["Errors"]["SupplyPhaseL1"]


def test_wifi_signal_follows_the_originals_example(sim):
    # The simulated station sees -49 dBm: the original's "-49dB/68%".
    assert sim.ok(sim.get(API + "SystemInfo"))["WiFiInfo"].endswith(",RSSI:-49dB/68%")
    assert sim.status()["WiFiInfo"].endswith(":68%")


def test_rssi_percent_is_linear_and_bounded():
    assert rssi_percent(-100) == 0 and rssi_percent(-110) == 0
    assert rssi_percent(-25) == 100 and rssi_percent(-10) == 100
    assert rssi_percent(-49) == 68
    assert rssi_percent(0) == 0  # no reading
