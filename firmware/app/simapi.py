"""The simulator's control API (simulated board only): drive the virtual
vehicle, inject faults, read the board's lines, advance virtual time.

    GET  /sim/v1/Board     relay, PWM, CP levels, lock, virtual time, the worst
                           real time from C/D to A/B until the relay opened
    GET  /sim/v1/Vehicle   POST {"State": "A".."D", "CableA": 13|20|32|63|null,
                                 "DrawA": number|null, "Phases": 1|3}
    GET  /sim/v1/Faults    POST {"RelayWeld": bool, ... , "TempC": number}
    GET  /sim/v1/Site      POST {"HouseholdW": number | "HouseholdA": [a1, a2, a3],
                                 "SupplyPhaseL1": 1|2|3,
                                 "Meter1Fault", "Meter2Fault": null|"NoAnswer"|"Crc"|
                                 "Exception"|"Slow"|"Unplugged"}
                           what the simulated meters measure (evsectl sim serves them):
                           ChargerA per charger conductor (meter 1), SupplyA the
                           charger's draw per site phase as it is wired (meter 2
                           adds HouseholdA); SupplyPhaseL1 is the site phase the
                           charger's L1 is wired to, L2 and L3 following
    POST /sim/v1/Time      {"AdvanceMs": int}   (with --virtual-time only)
    GET  /sim/v1/Ocpp      the OCPP charge point's link: Connected, Journal (messages
                           not yet confirmed), Busy (something to send or an answer
                           awaited), Status (the connector status last reported);
                           404 without OCPP. Tests and the bench wait on it.
    POST /sim/v1/Crash     {"Task": "housekeeping", "Error": "MemoryError"|"RuntimeError"}

Any subset of keys may be sent; a bad key or value is answered 400 and
changes nothing.
"""

from app.webapi import Endpoints, _body, _error
from hal.sim import FAULTS, METER_FAULTS, VOLTAGE_V

SIM = "/sim/v1/"
MAX_ADVANCE_MS = 7 * 24 * 3600 * 1000


def _vehicle_errors(data):
    errors = {}
    for key, value in data.items():
        if key == "State":
            if value not in ("A", "B", "C", "D"):
                errors[key] = 'must be "A", "B", "C" or "D"'
        elif key == "CableA":
            if value is not None and (isinstance(value, bool) or value not in (13, 20, 32, 63)):
                errors[key] = "must be 13, 20, 32, 63 or null"
        elif key == "DrawA":
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100):
                errors[key] = "must be a number of amperes 0..100 or null (draw what is offered)"
        elif key == "Phases":
            if isinstance(value, bool) or value not in (1, 3):
                errors[key] = "must be 1 or 3"
        else:
            errors[key] = "unknown key"
    return errors


def _number(value, lo, hi):
    return not isinstance(value, bool) and isinstance(value, (int, float)) and lo <= value <= hi


def _site_errors(data):
    errors = {}
    for key, value in data.items():
        if key == "HouseholdW":
            if not _number(value, 0, 200000):
                errors[key] = "must be a number of watts 0..200000 (split evenly over 3 phases)"
            elif "HouseholdA" in data:
                errors[key] = "give HouseholdW or HouseholdA, not both"
        elif key == "HouseholdA":
            if not isinstance(value, list) or len(value) != 3 or not all(_number(a, 0, 300) for a in value):
                errors[key] = "must be three numbers of amperes 0..300, one per phase"
        elif key == "SupplyPhaseL1":
            if isinstance(value, bool) or value not in (1, 2, 3):
                errors[key] = "must be 1, 2 or 3"
        elif key in ("Meter1Fault", "Meter2Fault"):
            if value is not None and value not in METER_FAULTS:
                errors[key] = "must be null or one of " + ", ".join(METER_FAULTS)
        else:
            errors[key] = "unknown key"
    return errors


def install(app, charger):
    sim = charger.hal
    clock = charger.clock
    api = Endpoints(app, SIM)

    @api.get("Board")
    async def board(req):
        return dict(
            RelayClosed=sim.relay_closed,
            PwmDutyPermille=sim.pwm_permille,
            CpHighMv=sim.cp_high_mv,
            CpLowMv=sim.cp_low_mv,
            Locked=sim.locked,
            VirtualTimeMs=clock.uptime_ms() if clock.virtual else 0,
            CurrentA=sim.current_a(),
            RelayOpenMs=sim.relay_open_ms,  # worst, real time, since boot
        )

    @api.get("Vehicle")
    async def get_vehicle(req):
        return sim.vehicle.as_dict()

    @api.post("Vehicle")
    async def post_vehicle(req):
        data, err = _body(req)
        if err:
            return err
        errors = _vehicle_errors(data)
        if errors:
            return _error(400, errors)
        sim.vehicle.set(
            data.get("State"),
            data.get("CableA", False),
            data.get("DrawA", False),
            data.get("Phases"),
        )
        sim.refresh()
        sim.save()
        return sim.vehicle.as_dict()

    @api.post("Card")
    async def card(req):
        # The simulated board's card reader: the id tag of a card held to it.
        data, err = _body(req)
        if err:
            return err
        tag = data.get("IdTag")
        if set(data) != {"IdTag"} or not isinstance(tag, str):
            return _error(400, {"IdTag": "must be the only key, a string"})
        done = charger.manager.present_id_tag(tag)
        if done is not True:
            return _error(409, {"IdTag": done})
        return {"IdTag": tag}

    def faults():
        out = dict(sim.faults)
        out["TempC"] = sim.temp_c10 / 10
        return out

    @api.get("Faults")
    async def get_faults(req):
        return faults()

    @api.post("Faults")
    async def post_faults(req):
        data, err = _body(req)
        if err:
            return err
        errors = {}
        for key, value in data.items():
            if key == "TempC":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not -40 <= value <= 150:
                    errors[key] = "must be a temperature -40..150"
            elif key not in FAULTS:
                errors[key] = "unknown fault; one of " + ", ".join(FAULTS)
            elif not isinstance(value, bool):
                errors[key] = "must be true or false"
        if errors:
            return _error(400, errors)
        for key, value in data.items():
            if key == "TempC":
                sim.temp_c10 = int(value * 10)
            else:
                sim.faults[key] = value
        sim.refresh()
        sim.save()
        return faults()

    @api.post("Time")
    async def post_time(req):
        data, err = _body(req)
        if err:
            return err
        ms = data.get("AdvanceMs")
        if set(data) != {"AdvanceMs"} or isinstance(ms, bool) or not isinstance(ms, int) or not 0 <= ms <= MAX_ADVANCE_MS:
            return _error(400, {"AdvanceMs": "must be the only key, an integer 0..%d" % MAX_ADVANCE_MS})
        if not clock.virtual:
            return _error(409, {"AdvanceMs": "the simulator runs in real time (start it with --virtual-time)"})
        await charger.advance(ms)
        return {"VirtualTimeMs": clock.uptime_ms()}

    def site():
        return dict(
            VoltageV=float(VOLTAGE_V),
            HouseholdA=sim.household_a,
            ChargerA=sim.charger_phase_a(),
            SupplyPhaseL1=sim.supply_phase_l1,
            SupplyA=sim.supply_a(),
            ChargerImportWh=sim.energy_wh(0),
            SiteImportWh=sim.energy_wh(1),
            Meter1Fault=sim.meter_faults[0],
            Meter2Fault=sim.meter_faults[1],
            VirtualTimeMs=clock.uptime_ms() if clock.virtual else 0,
        )

    @api.get("Site")
    async def get_site(req):
        sim.keep_counts()
        return site()

    @api.post("Site")
    async def post_site(req):
        data, err = _body(req)
        if err:
            return err
        errors = _site_errors(data)
        if errors:
            return _error(400, errors)
        household = data.get("HouseholdA")
        if "HouseholdW" in data:
            household = [data["HouseholdW"] / 3 / VOLTAGE_V] * 3
        faults = {}
        for n in (0, 1):
            key = "Meter%dFault" % (n + 1)
            if key in data:
                faults[n] = data[key]
        sim.set_site(household, faults, data.get("SupplyPhaseL1"))
        sim.save()
        return site()

    @api.get("Ocpp")
    async def get_ocpp(req):
        if charger.ocpp is None:
            return _error(404, {"Ocpp": "OCPP is off (OcppEndpoint is empty) or not started yet"})
        return charger.ocpp.summary()

    @api.post("Crash")
    async def crash(req):
        data, err = _body(req)
        if err:
            return err
        kind = data.get("Error", "MemoryError")
        if data.get("Task") != "housekeeping" or kind not in ("MemoryError", "RuntimeError"):
            return _error(400, {"Task": 'only "housekeeping" with Error "MemoryError" or "RuntimeError"'})
        charger.crash_next = kind
        return {"Crash": "armed"}
