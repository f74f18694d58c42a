"""The simulated board: a virtual vehicle, cable, contactor and lock.

It turns the kernel's outputs into the voltages a real board would sample,
through the same conditioning model (the board file's calibration), so the
kernel cannot tell it from hardware. Faults are injected by name. Reading
and writing allocate nothing, so the whole control tick can run with the
MicroPython heap locked.
"""

import json
import os

from evse.pilot import cp_mv_to_adc, PWM_OFF, PWM_F
from evse.proximity import pp_mv_for
from evse.lock import DRIVE_OFF
from evse.compat import ticks_diff

try:
    from time import ticks_ms
except ImportError:  # CPython
    from app.clock import _hw_ticks as ticks_ms

# CP high level each vehicle state presents (mV), as in IEC 61851-1 Table A.4.
_VEHICLE_MV = {"A": 12000, "B": 9000, "C": 6000, "D": 3000}
_CABLE_OHM = {13: 1500, 20: 680, 32: 220, 63: 100}

FAULTS = ("RelayWeld", "RelayNoClose", "DiodeShort", "CpShort", "PpOpen", "LockJam", "Epo", "Rcm", "OverTemp", "TempSensor")

LOCK_MOVE_MS = 100  # the actuator needs this long under drive to move
AMBIENT_C10 = 300
RESTART_EXIT_CODE = 75  # tells evsectl sim to start the firmware again
OVERHEATED_C10 = 900
VOLTAGE_V = 230
METER_FAULTS = ("NoAnswer", "Crc", "Exception", "Slow", "Unplugged")
_MWS_PER_WH = 3600000


class Vehicle:
    """What is plugged in: the vehicle's CP state, the cable and the load."""

    def __init__(self):
        self.state = "A"
        self.cable_a = 32  # PP rating of the cable (case B); None = no cable
        self.draw_a = None  # None: draws what is offered
        self.phases = 3

    def set(self, state=None, cable_a=False, draw_a=False, phases=None):
        if state is not None:
            self.state = state
        if cable_a is not False:
            self.cable_a = cable_a
        if draw_a is not False:
            self.draw_a = draw_a
        if phases is not None:
            self.phases = phases

    def as_dict(self):
        return {"State": self.state, "CableA": self.cable_a, "DrawA": self.draw_a, "Phases": self.phases}


class SimBoard:
    """The HAL for ``"hal": "sim"`` boards."""

    def __init__(self, board):
        cp = board["cp"]
        pp = board.get("pp", {})
        self._p12 = cp["adc_at_p12_mv"]
        self._m12 = cp["adc_at_m12_mv"]
        self._pp_pullup = pp.get("pullup_ohm", 1000)
        self._pp_vref = pp.get("vref_mv", 3300)
        self.vehicle = Vehicle()
        self.faults = {name: False for name in FAULTS}
        self.temp_c10 = AMBIENT_C10
        # Physical state of the board.
        self.relay_closed = False
        self.pwm_permille = PWM_OFF
        self.locked = False
        self.rcm_test = False
        self.offered_a = 0
        self.cp_high_mv = 12000
        self.cp_low_mv = 12000
        self._lock_drive = DRIVE_OFF
        self._lock_since = 0
        self._vehicle_mv = 12000
        self._diode_short = False
        self._cp_short = False
        self._pp_mv = pp_mv_for(None, self._pp_pullup, self._pp_vref)
        # The site around the charger, for the simulated meters (evsectl sim):
        # a household load per phase, and energy counters for the charger's
        # meter (1) and the site's (2), integrated tick by tick in integers.
        self.household_a = [0.0, 0.0, 0.0]
        self._household_w = 0
        self.supply_phase_l1 = 1  # the site phase the charger's L1 is wired to (the others follow)
        self.meter_faults = [None, None]
        self._energy_wh = [0, 0]
        self._energy_mws = [0, 0]
        self._last_now = None
        # The worst real time from a vehicle stopping its charge (C or D to
        # A or B) to the contactor opening (control API Board RelayOpenMs).
        self.relay_open_ms = 0
        self._stopped_at = None
        self.refresh()

    # -- changes from the control API (not in the tick: may allocate) ----------

    def refresh(self):
        """Recompute what the vehicle and the faults present on the lines."""
        f = self.faults
        self._vehicle_mv = _VEHICLE_MV[self.vehicle.state]
        self._diode_short = f["DiodeShort"]
        self._cp_short = f["CpShort"]
        cable = self.vehicle.cable_a
        ohm = None if cable is None or f["PpOpen"] else _CABLE_OHM[cable]
        self._pp_mv = pp_mv_for(ohm, self._pp_pullup, self._pp_vref)
        if f["OverTemp"] and self.temp_c10 < OVERHEATED_C10:
            self.temp_c10 = OVERHEATED_C10
        elif not f["OverTemp"] and self.temp_c10 >= OVERHEATED_C10:
            self.temp_c10 = AMBIENT_C10
        if self.relay_closed and self.vehicle.state in ("A", "B") and self._stopped_at is None:
            self._stopped_at = ticks_ms()

    def charger_phase_a(self):
        """The vehicle's draw per phase (a single-phase vehicle uses L1)."""
        a = self.current_a()
        others = a if self.vehicle.phases == 3 else 0
        return [a, others, others]

    def energy_wh(self, n):
        """Energy through meter ``n`` (0: the charger's, 1: the site's) so far."""
        return self._energy_wh[n] + self._energy_mws[n] / _MWS_PER_WH

    def supply_a(self):
        """The charger's draw per site phase, as wired (``supply_phase_l1``)."""
        out = [0, 0, 0]
        for k, a in enumerate(self.charger_phase_a()):
            out[(self.supply_phase_l1 - 1 + k) % 3] = a
        return out

    def set_site(self, household_a=None, faults=None, supply_phase_l1=None):
        """The household's load per phase; ``faults``: {meter index: fault or None}."""
        if supply_phase_l1 is not None:
            self.supply_phase_l1 = supply_phase_l1
        if household_a is not None:
            self.household_a = [float(a) for a in household_a]
            self._household_w = int(sum(self.household_a) * VOLTAGE_V)
        if faults:
            for n, fault in faults.items():
                self.meter_faults[n] = fault

    def safe(self):
        """Contactor open, CP at steady +12 V: what boot does before anything else."""
        self.relay_closed = self.faults["RelayWeld"]
        self.pwm_permille = PWM_OFF

    # -- the control tick ---------------------------------------------------------

    def read(self, now, i):
        """Fill the kernel's Inputs with what the board's ADCs and inputs show."""
        f = self.faults
        pwm = self.pwm_permille
        if self._cp_short:
            high = 0
            low = 0
        elif pwm == PWM_F:
            high = -12000
            low = -12000
        else:
            high = self._vehicle_mv
            if pwm == PWM_OFF:
                low = high  # no negative half: the low sample sees the high level
            elif self._diode_short:
                low = -high
            else:
                low = -12000
        self.cp_high_mv = high
        self.cp_low_mv = low
        i.cp_high_mv = cp_mv_to_adc(high, self._p12, self._m12)
        i.cp_low_mv = cp_mv_to_adc(low, self._p12, self._m12)
        i.pp_mv = self._pp_mv
        i.relay_closed = self.relay_closed
        i.lock_locked = self.locked
        i.epo = f["Epo"]
        i.rcm_trip = f["Rcm"] or self.rcm_test
        i.temp_c10 = self.temp_c10
        i.temp_fault = f["TempSensor"]  # the NTC's wire broken
        i.current_a = self.current_a()

    def current_a(self):
        """The phase current the vehicle draws now (the board's current sensor)."""
        if not self.relay_closed or self.vehicle.state not in ("C", "D"):
            return 0
        if self.vehicle.draw_a is None:
            return self.offered_a
        return int(self.vehicle.draw_a)

    def write(self, now, k):
        """Apply the kernel's outputs to the (virtual) hardware."""
        self._meter_energy(now)
        f = self.faults
        if f["RelayWeld"]:
            self.relay_closed = True
        elif f["RelayNoClose"]:
            self.relay_closed = False
        else:
            self.relay_closed = k.relay
        if self._stopped_at is not None and not self.relay_closed:
            self.relay_open_ms = max(self.relay_open_ms, ticks_diff(ticks_ms(), self._stopped_at))
            self._stopped_at = None
        self.pwm_permille = k.pwm_permille
        self.offered_a = k.offered_a
        self.rcm_test = k.rcm_test
        drive = k.lock_drive
        if drive != self._lock_drive:
            self._lock_drive = drive
            self._lock_since = now
        elif drive != DRIVE_OFF and not f["LockJam"] and ticks_diff(now, self._lock_since) >= LOCK_MOVE_MS:
            self.locked = drive > 0

    def _meter_energy(self, now):
        """Add the energy since the last tick to the meters' counters."""
        last = self._last_now
        self._last_now = now
        if last is None:
            return
        dt = ticks_diff(now, last)
        charger_w = self.current_a() * VOLTAGE_V * self.vehicle.phases
        self._add_energy(0, charger_w * dt)
        self._add_energy(1, (charger_w + self._household_w) * dt)

    def _add_energy(self, n, mws):
        mws += self._energy_mws[n]
        if mws >= _MWS_PER_WH:
            self._energy_wh[n] += mws // _MWS_PER_WH
            mws %= _MWS_PER_WH
        self._energy_mws[n] = mws

    def start_watchdog(self, timeout_ms):
        pass  # the simulator's "power cycle" is the process exit; nothing to watch

    def feed_watchdog(self):
        pass

    def hold_watchdog(self, timeout_ms):
        return None  # none runs

    # -- the simulator's housekeeping (not in the tick) ---------------------------

    def restore(self, path):
        """Reload the vehicle, faults and lock saved before a restart: the car
        stays plugged in while the charger reboots, and a bistable lock keeps
        its position through the power cycle."""
        self._state_path = path
        if not path:
            return
        try:
            with open(path) as f:
                saved = json.load(f)
            v = saved["Vehicle"]
            self.vehicle.set(v["State"], v["CableA"], v["DrawA"], v["Phases"])
            for name in FAULTS:
                self.faults[name] = bool(saved["Faults"].get(name, False))
            self.temp_c10 = saved.get("TempC10", AMBIENT_C10)
            self.locked = bool(saved.get("Locked", False))
            site = saved.get("Site", {})
            self.set_site(site.get("HouseholdA"), None, site.get("SupplyPhaseL1"))
            for n, wh in enumerate(site.get("EnergyWh", ())):
                self._energy_wh[n] = int(wh)
                self._energy_mws[n] = int((wh - int(wh)) * _MWS_PER_WH)
        except (OSError, ValueError, KeyError, TypeError):
            pass
        self.refresh()
        self.safe()

    def keep_counts(self):
        """Save the state if the meters' counters moved since it was last
        saved. Called whenever they are read (GET /sim/v1/Site, which the
        simulated meters answer from): like a real meter's register, which
        is kept in non-volatile memory, nothing a reading has shown is lost
        when the charger is killed (a power cut), so no meter 1 reading goes
        backwards across one."""
        if self.energy_wh(0) != self._saved_wh or self.energy_wh(1) != self._saved_site_wh:
            self.save()

    _saved_wh = _saved_site_wh = None

    def save(self):
        path = getattr(self, "_state_path", None)
        if path:
            site = {
                "HouseholdA": self.household_a,
                "SupplyPhaseL1": self.supply_phase_l1,
                "EnergyWh": [self.energy_wh(0), self.energy_wh(1)],
            }
            saved = {
                "Vehicle": self.vehicle.as_dict(),
                "Faults": self.faults,
                "TempC10": self.temp_c10,
                "Locked": self.locked,
                "Site": site,
            }
            # Whole or not at all: a kill in the middle of a write must not
            # lose the vehicle and the counters (rename is atomic).
            with open(path + ".tmp", "w") as f:
                json.dump(saved, f)
            os.rename(path + ".tmp", path)
            self._saved_wh, self._saved_site_wh = site["EnergyWh"]

    def restart(self):
        """A power cycle: the simulator (evsectl sim) starts the firmware again."""
        self.save()  # the meters' counters run on through the charger's restart
        raise SystemExit(RESTART_EXIT_CODE)
