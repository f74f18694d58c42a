"""A whole charging session through the simulator's control API, as a
person at a laptop would drive it: the firmware under MicroPython, time
virtual so an hour takes a moment."""

from test_webapi import wait_restart

API = "/webapi/v1/"


def test_a_full_session_on_a_socket_with_lock(sim):
    # A socket (case B) with a solenoid lock, single phase, 16 A.
    sim.config(ChargerMode=1, LockMethod=0, Charge3Phase=False, ChargeCurrent=16)
    sim.advance(500)
    assert sim.status()["EvseState"] == 1

    # Plug in a 20 A cable and a vehicle: locked, offered, not yet drawing.
    sim.vehicle(State="B", CableA=20)
    sim.advance(1000)
    s, b = sim.status(), sim.board()
    assert s["EvseState"] == 4 and s["PPCodedCurrent"] == 20 and s["ChargerStarted"]
    assert b["Locked"] and not b["RelayClosed"]
    assert b["PwmDutyPermille"] == 266  # 16 A: 26.67 % rounded down
    assert b["CpHighMv"] == 9000 and b["CpLowMv"] == -12000

    # The vehicle asks for charge: contactor closes well within 3 s.
    sim.vehicle(State="C")
    closed_after = 0
    while not sim.board()["RelayClosed"]:
        sim.advance(10)
        closed_after += 10
        assert closed_after <= 3000
    assert sim.status()["EvseState"] == 5

    # One hour of charging at 16 A x 230 V, estimated without a meter.
    start = sim.status()
    sim.advance(3600 * 1000)
    s = sim.status()
    assert s["ActualPower"] == 16 * 230
    assert s["ActualEnergy"] - start["ActualEnergy"] == 16 * 230 * 3600
    assert s["ActualEnergyEstimated"] is True
    assert s["ActualDurationTotalSeconds"] >= 3600
    assert s["ActualDuration"].startswith("01h:00m:")

    # The vehicle is full: back to B, the contactor opens on the next ticks.
    sim.vehicle(State="B")
    opened_after = 0
    while sim.board()["RelayClosed"]:
        sim.advance(10)
        opened_after += 10
        assert opened_after <= 100
    energy = sim.status()["ActualEnergy"]

    # Unplug: the lock opens, the session's figures stay readable.
    sim.vehicle(State="A")
    sim.advance(1000)
    s, b = sim.status(), sim.board()
    assert s["EvseState"] == 1 and not b["Locked"] and b["PwmDutyPermille"] == 1000
    assert s["ActualEnergy"] == energy and not s["ChargerStarted"]


def test_a_fault_mid_session_opens_the_contactor_at_once_and_latches(sim):
    sim.vehicle(State="C")
    sim.advance(1000)
    assert sim.board()["RelayClosed"]
    sim.faults(Epo=True)
    sim.advance(10)
    b = sim.board()
    assert not b["RelayClosed"] and b["PwmDutyPermille"] == 0
    assert sim.status()["EvseState"] == 3  # EVSE_EPO_F
    sim.faults(Epo=False)
    sim.advance(60000)
    assert sim.status()["EvseState"] == 3  # latched until a restart
    assert sim.ok(sim.get(API + "SystemInfo"))["GeneralInfo"] == "System: EVSE_EPO_F"


def test_the_vehicle_stays_plugged_in_across_a_charger_restart(sim):
    sim.vehicle(State="C", DrawA=10)
    sim.advance(1000)
    assert sim.board()["RelayClosed"]
    before = sim.status()["TimeStamp"]
    sim.ok(sim.post(API + "SystemInfo", {"SCode": "Reset"}))
    wait_restart(sim, before)
    b = sim.board()
    assert not b["RelayClosed"]  # every boot starts with the contactor open
    sim.advance(1000)
    assert sim.board()["RelayClosed"]  # and the session resumes on its own (auto start)
    assert sim.ok(sim.get("/sim/v1/Vehicle"))["DrawA"] == 10


def test_a_restart_while_charging_with_a_welded_contactor_keeps_the_plug_locked(sim):
    """Issue 20 item 1: a reset in the middle of a session whose contactor has
    welded. The simulated lock keeps its position through the restart, as a
    bistable lock does, and the firmware must never release it."""
    sim.config(ChargerMode=1, ChargeCurrent=16)
    sim.vehicle(State="B", CableA=32)
    sim.advance(1000)
    sim.vehicle(State="C")
    sim.advance(1000)
    assert sim.board()["RelayClosed"] and sim.board()["Locked"]
    sim.faults(RelayWeld=True)
    before = sim.status()["TimeStamp"]
    assert sim.ok(sim.post(API + "SystemInfo", {"SCode": "Reset", "SCodeData": ""})) == {"Reset": "Performing"}
    wait_restart(sim, before)
    for _ in range(30):  # 3 s after the restart, 100 ms at a time
        b = sim.board()
        assert b["Locked"], "the plug was released from a live socket"
        sim.advance(100)
    s = sim.status()
    assert s["EvseState"] == 2  # EVSE_RELAY_ERR_F, latched
    sim.vehicle(State="A")  # the driver tries to leave
    sim.advance(10000)
    assert sim.board()["Locked"] and sim.board()["RelayClosed"]
