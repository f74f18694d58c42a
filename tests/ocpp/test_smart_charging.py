"""Smart Charging, end to end: SetChargingProfile, ClearChargingProfile and
GetCompositeSchedule from the real central system (tests/ocpp/central_system.py,
every message schema-checked both ways) to the real firmware (``evsectl sim
--virtual-time``, MicroPython unix port), the composite seen where it counts:
in the pilot's PWM (the simulator's board) and in ActualCurrentLimitSource.

The central system's clock follows the charger's virtual time (behaviour
``clock``), so schedules are placed exactly; virtual time only moves when a
test advances it, so "now" is the same second for a profile and the
composite asked for after it."""

from test_core_e2e import central  # noqa: F401 (the fixture: a central system process)
from test_core_e2e import ocpp_charger
from test_core_virtual_time import T0, epoch, idle

SETTLE = 6  # s: the pilot's offer changes at most every 5 s (IEC 61851-1), then the new one shows

def _iso(t):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")


def _profile(pid, stack, purpose="TxDefaultProfile", periods=((0, 16),), unit="A", kind="Absolute", **more):
    schedule = {"chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": s, "limit": lim} for s, lim in periods]}
    for key in ("duration", "startSchedule"):
        if key in more:
            schedule[key] = more.pop(key)
    p = {"chargingProfileId": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
         "chargingProfileKind": kind, "chargingSchedule": schedule}
    p.update(more)
    return p


def _set(cs, connector, profile):
    r = cs.call("SetChargingProfile", {"connectorId": connector, "csChargingProfiles": profile})
    return r["result"]["status"]


def _composite(cs, duration, connector=1, unit=None):
    payload = {"connectorId": connector, "duration": duration}
    if unit:
        payload["chargingRateUnit"] = unit
    return cs.call("GetCompositeSchedule", payload)["result"]


def _periods(result):
    return [(p["start_period"], p["limit"]) for p in result["charging_schedule"]["charging_schedule_period"]]


def _offered(sim):
    """The current the pilot offers now, from its duty cycle (IEC 61851: A = duty % x 0.6)."""
    return round(sim.client.board()["PwmDutyPermille"] * 0.06)


class Charger:
    """A charger in virtual time whose central system's clock follows it."""

    def __init__(self, sim_factory, cs, **settings):
        self.cs = cs
        self.sim = ocpp_charger(sim_factory, cs, virtual_time=True, **settings)
        self.uptime_s = 0
        cs.got("BootNotification")
        cs.got("StatusNotification", where=lambda p: p["status"] == "Available")

    def advance(self, seconds):
        self.uptime_s += seconds
        self.cs.send({"behaviour": {"clock": T0 + self.uptime_s}})
        self.cs.next(lambda e: e.get("behaviour", {}).get("clock") == T0 + self.uptime_s)
        self.sim.client.advance(seconds * 1000)
        idle(self.sim)

    def charging(self):
        self.sim.client.vehicle(State="C")
        self.advance(2)
        start = self.cs.got("StartTransaction")
        self.cs.got("StatusNotification", where=lambda p: p["status"] == "Charging")
        return start

    def status(self):
        return self.sim.client.status()


def test_a_higher_stack_level_wins_then_expires_and_the_lower_applies_again(sim_factory, central):
    cs = central(clock=T0)
    c = Charger(sim_factory, cs, ChargeCurrent=32)
    c.charging()
    assert _offered(c.sim) == 32
    assert _set(cs, 1, _profile(1, 0, periods=((0, 16),))) == "Accepted"
    assert _set(cs, 1, _profile(2, 4, periods=((0, 10),), duration=600)) == "Accepted"  # from now, 10 min
    got = _composite(cs, 1200)  # at the same virtual second
    assert got["status"] == "Accepted" and _periods(got) == [(0, 10), (600, 16)]
    until = int(epoch(got["schedule_start"])) + 600
    c.advance(SETTLE)
    assert _offered(c.sim) == 10 and c.status()["ActualCurrentLimitSource"] == "OCPP"
    # A third, higher still, valid for two minutes only (validTo).
    now = int(epoch(_composite(cs, 1)["schedule_start"]))
    assert _set(cs, 1, _profile(3, 8, periods=((0, 6),), validTo=_iso(now + 120))) == "Accepted"
    assert _periods(_composite(cs, 1200)) == [(0, 6), (120, 10), (until - now, 16)]
    c.advance(SETTLE)
    assert _offered(c.sim) == 6
    c.advance(120 - SETTLE - 1)
    assert _offered(c.sim) == 6
    c.advance(2)  # past its validTo: stack 4 again
    assert _offered(c.sim) == 10
    now = int(epoch(_composite(cs, 1)["schedule_start"]))
    c.advance(until - now - 1)
    assert _offered(c.sim) == 10
    c.advance(2)  # stack 4's duration is over: stack 0 again
    assert _offered(c.sim) == 16
    assert _periods(_composite(cs, 600)) == [(0, 16)]
    assert _periods(_composite(cs, 600, connector=0)) == [(0, 16)]
    assert _composite(cs, 600, connector=2)["status"] == "Rejected"
    # Cleared: the charger's own limit again.
    assert cs.call("ClearChargingProfile", {})["result"]["status"] == "Accepted"
    c.advance(SETTLE)
    assert _offered(c.sim) == 32 and c.status()["ActualCurrentLimitSource"] == "Settings"
    assert _periods(_composite(cs, 60)) == [(0, 32)]  # no profile: the board's rating


def test_a_tx_profile_needs_its_transaction_and_ends_with_it(sim_factory, central):
    cs = central(clock=T0)
    c = Charger(sim_factory, cs, ChargeCurrent=16)
    assert _set(cs, 1, _profile(5, 0, "TxProfile", periods=((0, 8),))) == "Rejected"  # none runs
    c.charging()  # transaction 1, as the central system numbers them
    assert _set(cs, 1, _profile(5, 0, "TxProfile", periods=((0, 8),), transactionId=2)) == "Rejected"
    assert _set(cs, 0, _profile(5, 0, "TxProfile", periods=((0, 8),), transactionId=1)) == "Rejected"
    assert _set(cs, 1, _profile(6, 0, periods=((0, 12),))) == "Accepted"  # TxDefault
    assert _set(cs, 1, _profile(5, 0, "TxProfile", periods=((0, 8), (60, 14)), transactionId=1)) == "Accepted"
    c.advance(SETTLE)
    assert _offered(c.sim) == 8  # the TxProfile overrides the default
    c.advance(60)
    assert _offered(c.sim) == 14  # higher than the default: overrides it all the same
    c.sim.client.vehicle(State="A")
    c.advance(SETTLE)
    cs.got("StopTransaction")
    c.sim.client.vehicle(State="C")
    c.advance(2)
    cs.got("StartTransaction", where=lambda p: True)
    assert _offered(c.sim) == 12  # the TxProfile went with its transaction
    assert cs.call("ClearChargingProfile", {"id": 5})["result"]["status"] == "Unknown"


def test_watts_and_load_management_the_smaller_wins(sim_factory, central):
    cs = central(clock=T0)
    c = Charger(sim_factory, cs, ChargeCurrent=32, ControlStrategy=1)
    c.charging()
    phases = 3 if c.status()["ThreePhaseCharging"] else 1
    # 9660 W over the phases at 230 V.
    assert _set(cs, 1, _profile(1, 0, periods=((0, 230 * phases * 14),), unit="W")) == "Accepted"
    c.advance(SETTLE)
    assert _offered(c.sim) == 14 and c.status()["ActualCurrentLimitSource"] == "OCPP"
    got = _composite(cs, 60, unit="W")
    assert got["charging_schedule"]["charging_rate_unit"] == "W"
    assert _periods(got) == [(0, 230 * phases * 14)]
    assert _periods(_composite(cs, 60)) == [(0, 14)]
    # Load management: EVSEPowerAvailable below the profile wins; above it the profile does.
    c.sim.client.ctrl(EVSEPowerAvailable=230 * phases * 10)
    c.advance(SETTLE)
    assert _offered(c.sim) == 10 and c.status()["ActualCurrentLimitSource"] == "LoadManagement"
    c.sim.client.ctrl(EVSEPowerAvailable=230 * phases * 20)
    c.advance(SETTLE)
    assert _offered(c.sim) == 14 and c.status()["ActualCurrentLimitSource"] == "OCPP"


def test_a_daily_profile_across_midnight(sim_factory, central):
    midnight = T0 - 30 + 86400  # T0 is 00:00:30: the next midnight
    start = T0 - 30 - 86400 // 2  # 12:00 the day before, and every day since
    cs = central(clock=T0)
    c = Charger(sim_factory, cs, ChargeCurrent=32)
    c.charging()
    profile = _profile(1, 0, "ChargePointMaxProfile", kind="Recurring", recurrencyKind="Daily",
                       startSchedule=_iso(start), periods=((0, 20), (86400 // 2 + 60, 9), (86400 // 2 + 120, 20)))
    assert _set(cs, 0, profile) == "Accepted"
    c.advance(SETTLE)
    assert _offered(c.sim) == 20
    # To 23:59:30 of the central system's clock in one jump of its time (a Heartbeat resyncs it).
    cs.send({"behaviour": {"clock": midnight - 30}})
    assert cs.call("TriggerMessage", {"requestedMessage": "Heartbeat"})["result"]["status"] == "Accepted"
    cs.got("Heartbeat")
    c.uptime_s = midnight - 30 - T0
    idle(c.sim)
    assert _offered(c.sim) == 20
    assert _periods(_composite(cs, 180, connector=0)) == [(0, 20), (90, 9), (150, 20)]
    c.advance(89)
    assert _offered(c.sim) == 20
    c.advance(2)  # 00:01:01
    assert _offered(c.sim) == 9
    c.advance(59)
    assert _offered(c.sim) == 9
    c.advance(2)
    assert _offered(c.sim) == 20


def test_the_bounds_the_keys_and_clearing_by_filter(sim_factory, central):
    cs = central(clock=T0)
    Charger(sim_factory, cs)
    keys = {k["key"]: k for k in cs.call("GetConfiguration", {"key": [
        "ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit", "ChargingScheduleMaxPeriods",
        "MaxChargingProfilesInstalled", "SupportedFeatureProfiles"]})["result"]["configuration_key"]}
    assert {k: v["value"] for k, v in keys.items() if k != "SupportedFeatureProfiles"} == dict(
        ChargeProfileMaxStackLevel="8", ChargingScheduleAllowedChargingRateUnit="Current,Power",
        ChargingScheduleMaxPeriods="24", MaxChargingProfilesInstalled="8")
    assert all(k["readonly"] for k in keys.values())
    assert "SmartCharging" in keys["SupportedFeatureProfiles"]["value"].split(",")
    assert _set(cs, 1, _profile(1, 9)) == "Rejected"  # past ChargeProfileMaxStackLevel
    for i in range(8):
        assert _set(cs, 0 if i % 2 else 1, _profile(10 + i, i)) == "Accepted"
    assert _set(cs, 1, _profile(30, 8)) == "Rejected"  # a ninth
    assert _set(cs, 1, _profile(10, 8, periods=((0, 7),))) == "Accepted"  # replacing one is not
    clear = lambda **f: cs.call("ClearChargingProfile", f)["result"]["status"]  # noqa: E731
    assert clear(id=99) == "Unknown"
    assert clear(id=10) == "Accepted"
    assert clear(connectorId=0, stackLevel=2) == "Unknown"  # stack 2 is on connector 1
    assert clear(connectorId=1, stackLevel=2) == "Accepted"
    assert clear(chargingProfilePurpose="ChargePointMaxProfile") == "Unknown"
    assert clear(connectorId=0) == "Accepted"  # 11, 13, 15, 17
    assert clear(chargingProfilePurpose="TxDefaultProfile", stackLevel=4) == "Accepted"
    assert _periods(_composite(cs, 60)) == [(0, 16)]  # 16 A of stack 6, the highest left
    assert clear() == "Accepted" and clear() == "Unknown"


def test_profiles_are_kept_through_a_reset(sim_factory, central):
    cs = central(clock=T0)
    c = Charger(sim_factory, cs, ChargeCurrent=32)
    assert _set(cs, 0, _profile(1, 0, "ChargePointMaxProfile", periods=((0, 11),))) == "Accepted"
    assert cs.call("Reset", {"type": "Soft"})["result"]["status"] == "Accepted"
    cs.got("BootNotification", where=lambda p: True, timeout=30)
    c.sim.client.wait_ready(30)
    c.sim.client.vehicle(State="C")
    c.sim.client.advance(2000)
    assert _offered(c.sim) == 11
    assert _periods(_composite(cs, 60)) == [(0, 11)]


def test_before_the_time_is_known_a_placed_schedule_holds_its_lowest_limit(sim_factory, tmp_path):
    """Profiles on flash from before a power cut, and no central system to
    give the time: the absolute one holds at its lowest period, the relative
    one runs from the transaction's start on the charger's own clock."""
    from ocpp.smartcharging import SmartCharging

    from simclient import free_port

    flash = tmp_path / "dev0"  # the simulated flash of sim_factory's first charger
    flash.mkdir()
    sc = SmartCharging(str(flash / "ocpp.prof"))
    assert sc.install(0, _profile(1, 0, "ChargePointMaxProfile", periods=((0, 20), (3600, 9), (7200, 20)),
                                  startSchedule=_iso(T0))) == "Accepted"
    assert sc.install(1, _profile(2, 0, kind="Relative", periods=((0, 6), (60, 32)))) == "Accepted"
    config = dict(OcppEndpoint="ws://127.0.0.1:%d/ocpp" % free_port(), OcppBoxId="CP1", OcppSecurityProfile=0,
                  ChargeCurrent=32)
    sim = sim_factory(virtual_time=True, files={"config.json": config})
    sim.client.vehicle(State="C")
    sim.client.advance(2000)
    assert _offered(sim) == 6  # the relative one's first minute (below the other's lowest)
    sim.client.advance(60000)
    assert _offered(sim) == 9  # then the absolute one's lowest: 9 A, wherever in its day it is
    assert sim.client.status()["ActualCurrentLimitSource"] == "OCPP"
