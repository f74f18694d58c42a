"""``evsectl status`` reads a running charger (the simulator) and shows its
state, current, power, energy and session as a table."""

import io
import json
import subprocess
import sys

from evsectl import status
from simclient import free_port


def evsectl_status(client, *args):
    return subprocess.run([sys.executable, "-m", "evsectl", "status", "--host", "127.0.0.1:%d" % client.port, *args],
                          capture_output=True, text=True, timeout=30)


def rows(text):
    """{label: value} of one table."""
    return {line[:10].strip(): line[11:] for line in text.splitlines() if line[:10].strip()}


def test_shows_a_charging_session(sim):
    sim.vehicle(State="C")
    sim.advance(60000)  # a minute of charging, in virtual time: nothing moves while we read
    s = sim.status()
    assert s["EvseState"] == 5 and s["ActualPower"] == 11040
    done = evsectl_status(sim)
    assert done.returncode == 0, done.stderr
    table = rows(done.stdout)
    assert table["charger"] == "http://127.0.0.1:%d  firmware %s  WiFi %s" % (sim.port, s["SystemVersion"], s["WiFiInfo"])
    assert table["state"] == "EVSE_EV_CHARGE_C1_C2 (5): vehicle requests or receives charge"
    assert table["charging"] == "started, boost off, auto start on"
    assert table["current"] == "16 A offered, three-phase"
    assert table["power"] == "11.04 kW"
    assert table["energy"] == "%.3f kWh (estimated)" % (s["ActualEnergy"] / 3600000)
    assert 0.18 <= s["ActualEnergy"] / 3600000 <= 0.19  # 11.04 kW for about a minute
    assert table["session"] == s["ActualDuration"] != "00h:00m:00s"
    assert table["meters"] == "meter 1: none (Meter1Type 0)"
    assert table["health"] == "System: no faults"


def test_shows_a_fault_and_what_it_is_about(sim):
    sim.faults(Epo=True)
    sim.advance(100)
    table = rows(evsectl_status(sim).stdout)
    assert table["state"] == "EVSE_EPO_F (3): emergency stop"
    assert table["charging"].startswith("stopped")


def test_watch_redraws_the_table(sim):
    out = io.StringIO()
    assert status.run("127.0.0.1:%d" % sim.port, watch=0.05, count=2, out=out) == 0
    tables = out.getvalue().split("(every 0.05 s; Ctrl-C ends)\n")
    assert len(tables) == 3 and tables[2] == ""
    assert rows(tables[0])["state"] == rows(tables[1])["state"] == "EVSE_IDLE_A1_A2 (1): no vehicle"


def test_meter_registers_are_listed_when_the_firmware_has_them():
    reading = {
        "status": {"SystemVersion": "0.9.1", "WiFiInfo": "559EVSE:60%", "EvseState": 4, "ThreePhaseCharging": False,
                   "ActualCurrent": 0, "PPCodedCurrent": 20, "ActualPower": 0, "ActualPowerAvailable": 22080,
                   "ActualEnergy": 0, "ActualDuration": "00h:00m:00s", "AutoStartAllowed": False,
                   "ChargerStarted": False, "ChargeBoosted": False, "Meter1Status": 2, "Meter2Status": 0},
        "info": {},
        "meter1": {"Meter1": {"TimeStamp": 1826814, "ModbusData": {
            "0x04_0x0048": {"Desc": "TotalImport[kWh]", "ErrCounter": 0, "Value": 0.331, "DataStatus": "Valid"},
            "0x04_0x0034": {"Desc": "TotalSystemPower[W]", "ErrCounter": 2, "Value": 475.2041931152344,
                            "DataStatus": "Not available"}}}},
    }
    lines = status.render("http://evse:80", reading).splitlines()
    assert "current    0 A offered, single-phase; cable rated 20 A" in lines
    assert "power      0.00 kW (available 22.08 kW)" in lines
    assert "meters     meter 1: 2 failed requests" in lines
    assert "           meter 2: 0 failed requests" in lines
    assert lines[-2:] == [
        "meter 1    TotalSystemPower[W]                       475.204  Not available",
        "           TotalImport[kWh]                            0.331  Valid",
    ]


def test_an_unreachable_charger_is_a_one_line_error():
    done = subprocess.run([sys.executable, "-m", "evsectl", "status", "--host", "127.0.0.1:%d" % free_port()],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith("evsectl status: cannot reach http://127.0.0.1:")
    assert done.stderr.count("\n") == 1


def test_a_dead_meter_says_where_to_look(sim_factory):
    """Meter 1 asked at a unit no simulated meter has: every request fails."""
    s = sim_factory()
    gateway = json.loads((s.device_dir / "sim.json").read_text())["modbus_gateway"]
    s.client.config(Meter1Type=4, Meter1Ip=gateway, Meter1Unit=7, Meter2Type=4, Meter2Ip=gateway)
    s.client.advance(5000)
    table = evsectl_status(s.client).stdout.splitlines()
    errors = s.client.status()["Meter1Status"]
    assert errors > 0
    assert ("meters     meter 1: %d failed requests, nothing read: no answer, wrong Meter1Unit or CRC errors "
            "(check Meter1Ip)" % errors) in table
    assert "           meter 2: 0 failed requests" in table


def test_count_without_watch_is_refused():
    done = subprocess.run([sys.executable, "-m", "evsectl", "status", "--host", "127.0.0.1:%d" % free_port(), "--count",
                           "3"], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stderr) == (2, "evsectl status: --count goes with --watch (--watch --count 3)\n")
