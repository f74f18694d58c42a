"""Meters and load management in the running firmware.

Meter 1 (statistics) measures the charger: its power becomes ActualPower,
its phase currents let the kernel catch a vehicle drawing more than offered,
and its import counter settles the session's energy. Meter 2 (control)
measures the whole site for load management (ControlStrategy 1), or, as
type 7, stands for a remote system that steers with EVSEPowerAvailable.

One poll cycle every MeterPollMs reads both meters, then updates the
kernel's inputs and load management's limit (through charger.manager's arbiter). In real time a task runs the cycles; in
the simulator's virtual time the control API runs them as time advances.

Safe fallbacks (LoadFallbackA, 6 A by default, 0 pauses): when meter 2's
readings are older than MeterStaleS, or the remote system has not written
EVSEPowerAvailable for RemoteTimeoutS, the charger offers at most that.
Never more than a limit can vouch for.
"""

import json

from app import log
from app.aio import sleep_ms, ticks_diff, ticks_ms
from app.atomic import read_json, write_atomic
from app.config import parse_address
from evse.loadlimit import LoadLimiter, NO_LIMIT_A

# meters.models, imported with the first meter configured, and evse.headroom,
# with load management on: a charger without them keeps the heap they take.
models = None
headroom = None

# A meter's reading is held to these before it becomes one of the kernel's
# ints: a wild value (a garbled register, inf) would otherwise be a long int
# on a 32-bit MicroPython, and the control tick multiplies power by the
# tick's milliseconds (evse.session), allocating where nothing may. 200 kW is
# nine times the largest AC charger; times a tick of up to 5 s, still small.
MAX_POWER_W = 200000
MAX_CURRENT_A = 1000

KEPT_PATH = "meters.json"  # baselines of the energies the firmware keeps for a meter
_PARITY = {"N": None, "E": 0}


class Metering:
    def __init__(self, charger, kept_path=KEPT_PATH):
        self.charger = charger
        self.meters = [None, None]
        self.limiter = LoadLimiter()
        self.power_available_w = -1  # EVSEPowerAvailable; -1: never written
        self._remote_at = -1  # uptime of the remote system's last write
        self._import_stamp = -1  # meter 1's import reading last given to the session
        self._drawing = []  # the charger's conductors meter 1 saw the vehicle draw on this session
        self._kept_path = kept_path
        self._kept = read_json(kept_path)
        self.configure()

    # -- configuration ----------------------------------------------------------

    def configure(self):
        """(Re)build the meters from the configuration."""
        global models
        for m in self.meters:
            if m is not None:
                m.link.port.close()
        self.meters = [None, None]
        self._import_stamp = -1
        c = self.charger.config
        if not (1 <= c["Meter1Type"] <= 6 or 1 <= c["Meter2Type"] <= 6):
            return
        from meters import models
        from meters.link import MbapLink, RtuLink, TcpPort
        from meters.meter import Meter

        bus = None
        for n in (1, 2):
            pre = "Meter%d" % n
            model = models.for_type(c[pre + "Type"], c[pre + "PerPhase"])
            if model is None:
                continue
            if models.is_ip(c[pre + "Type"]):
                tcp = TcpPort(*parse_address(c[pre + "Ip"]))
                if c[pre + "IpRtu"]:
                    link = RtuLink(tcp, model.gap_ms, c["MeterTimeoutMs"])
                else:
                    link = MbapLink(tcp, c["MeterTimeoutMs"])
            else:
                if bus is None:
                    try:
                        port = self._bus_port()
                    except OSError as e:
                        log.warn("meters: no RS485 bus: %s" % e)
                        port = _Absent(str(e))
                    bus = RtuLink(port, 0, c["MeterTimeoutMs"])
                bus.silence_ms = max(bus.silence_ms, model.gap_ms, _silence_ms(c["MeterBaud"], c["MeterFraming"]))
                link = bus
            self.meters[n - 1] = Meter(model, link, c[pre + "Unit"], c["MeterStaleS"] * 1000)

    def _bus_port(self):
        """The RS485 bus: the board's UART, or what the simulator wired up."""
        from meters.link import SerialPort, TcpPort

        c = self.charger.config
        wired = self.charger.sim.get("rs485")
        if wired and wired.startswith("tcp://"):
            return TcpPort(*parse_address(wired[6:]))
        if wired:
            from hal.serial_posix import PosixSerial

            return SerialPort(PosixSerial(wired))
        framing = c["MeterFraming"]
        stream, de = self.charger.hal.rs485(c["MeterBaud"], _PARITY[framing[1]], int(framing[2]))
        return SerialPort(stream, de)

    # -- running ------------------------------------------------------------------

    async def run(self):
        """Poll cycles every MeterPollMs of real time."""
        while True:
            start = ticks_ms()
            await self.cycle()
            wait = self.charger.config["MeterPollMs"] - ticks_diff(ticks_ms(), start)
            await sleep_ms(wait if wait > 0 else 0)

    async def cycle(self):
        clock = self.charger.clock
        for m in self.meters:
            if m is not None:
                await m.poll(clock)
        self.update(clock.uptime_ms())

    def update(self, now):
        """Give the kernel what the meters and limits say now."""
        k = self.charger.kernel
        i = k.inputs
        m1 = self.meters[0]
        i.power_w = i.meter_current_a = -1
        if m1 is not None:
            p = m1.power_w(now)
            if p is not None:
                i.power_w = int(min(p, MAX_POWER_W) + 0.5) if p > 0 else 0
            currents = m1.per_phase(models.CURRENT, now)
            if currents:
                i.meter_current_a = int(min(max(currents), MAX_CURRENT_A) + 0.5)
            imp = m1.index(models.IMPORT)
            if m1.stamps[imp] != self._import_stamp and m1.fresh(imp, now):
                self._import_stamp = m1.stamps[imp]
                k.session.meter_report(int(m1.values[imp] * 1000 + 0.5))
            elif not m1.fresh(imp, now):
                k.session.estimated = True  # until the meter is back to settle the gap
        # Through the limit arbiter, which names the winner (charger.limits).
        self.charger.manager.load_limit(self.limit_a(now))

    def voltage_v(self, now):
        """Meter 1's voltage (the mean of the phases it reads), or None
        without a fresh reading."""
        m1 = self.meters[0]
        volts = m1.per_phase(models.VOLTAGE, now) if m1 is not None else None
        if not volts:
            return None
        return sum(volts) / len(volts)

    def drawing(self):
        """The charger's conductors the vehicle draws on: those meter 1 saw
        carrying current this session, else every one it has (the cautious
        guess: power is then shared over more phases, so less per phase)."""
        return sorted(self._drawing) if self._drawing else list(range(self.charger.phases()))

    def limit_a(self, now):
        global headroom
        c = self.charger.config
        if c["ControlStrategy"] != 1:
            return NO_LIMIT_A
        if headroom is None:
            from evse import headroom
        k = self.charger.kernel
        fallback = False
        if c["Meter2Type"] == 7:
            fallback = self._remote_at < 0 or now - self._remote_at > c["RemoteTimeoutS"] * 1000
        m2 = self.meters[1]
        site_w = site_a = None
        if m2 is not None:
            site_w = m2.power_w(now)
            site_a = m2.per_phase(models.CURRENT, now)
            if (c["ControlLimit"] > 0 and site_w is None) or (m2.index(models.CURRENT) >= 0 and site_a is None):
                fallback = True  # meter 2 lost: no limit can vouch for more
        # The charger's own draw, from meter 1 when fresh. Current may flow
        # while the contactor is commanded or reported closed.
        closed = k.relay or k.inputs.relay_closed
        m1 = self.meters[0]
        currents = power = None
        if m1 is not None:
            currents = m1.per_phase(models.CURRENT, now)
            power = m1.power_w(now)
            if power is not None and power < 0:
                power = 0  # a charger exports nothing; a negative reading is wiring or noise
        if not k.connected:
            self._drawing = []  # the next vehicle may draw on other phases
        elif closed and currents:
            for n in headroom.drawing_phases(currents, self.charger.phases()):
                if n not in self._drawing:
                    self._drawing.append(n)
        wired = headroom.wiring(c["SupplyPhaseL1"] - 1, self.charger.phases())
        drawing = self.drawing()
        v = k.params.nominal_voltage
        low_w, high_w, low_a, high_a = headroom.own_draw(
            closed, v, wired, drawing, k.offered_a, currents, power, k.inputs.current_a
        )
        phases = [wired[n] for n in drawing]
        limits = (self.power_available_w, site_w, c["ControlLimit"], site_a, c["PhaseCurrentLimit"])
        standing = k.offered_a if k.offered_a < self.limiter.limit_a else self.limiter.limit_a
        avail = headroom.available_a(
            standing,
            headroom.headroom_a(phases, v, low_w, low_a, *limits),
            headroom.headroom_a(phases, v, high_w, high_a, *limits),
        )
        if fallback and avail > c["LoadFallbackA"]:
            avail = c["LoadFallbackA"]
        return self.limiter.update(now, avail)

    def may_steer(self, address):
        """Whether a client at ``address`` may write EVSEPowerAvailable: with
        remote control (Meter2Type 7) only the system at Meter2Ip."""
        c = self.charger.config
        return c["Meter2Type"] != 7 or parse_address(c["Meter2Ip"])[0] == address

    def set_power_available(self, watts, now):
        self.power_available_w = int(watts)
        self._remote_at = now
        self.update(now)

    # -- what the WebAPI shows ------------------------------------------------------

    def errors(self, n):
        m = self.meters[n - 1]
        return m.errors if m is not None else 0

    def data(self, n, now):
        """ModbusData for Meter<n>: every register of the model, and the
        energies the firmware keeps for meters without resettable counters."""
        m = self.meters[n - 1]
        out = {}
        if m is None:
            return out
        model = m.model
        for i, (addr, desc, _) in enumerate(model.registers):
            out["0x04_0x%04x" % addr] = _entry(model.shown(addr, desc), m.errs[i], m.values[i], m.fresh(i, now))
        if m.model.kept:
            base = self._kept.get(str(n), {})
            imp = m.value(models.IMPORT, now)
            exp = m.value(models.EXPORT, now)
            fresh = imp is not None and exp is not None
            errs = m.errs[m.index(models.IMPORT)]  # the registers they come from
            since = {
                models.RESET_IMPORT: (imp or 0) - base.get("import", 0),
                models.RESET_EXPORT: (exp or 0) - base.get("export", 0),
            }
            since[models.RESET_TOTAL] = since[models.RESET_IMPORT] + since[models.RESET_EXPORT]
            for addr, desc, meaning in m.model.kept:
                out["0x04_0x%04x" % addr] = _entry(desc, errs, since[meaning] if fresh else 0, fresh)
        return out

    def reading(self, n, now):
        """Meter ``n``'s values for an energy manager (cFos): (import kWh,
        power W, currents A per phase, voltages V per phase), each None
        without a fresh reading, except the import counter, which stays at
        its last reading (a counter that dropped to 0 would be charged
        energy lost). None without meter ``n``."""
        m = self.meters[n - 1]
        if m is None:
            return None
        i = m.index(models.IMPORT)
        kwh = m.values[i] if i >= 0 and m.stamps[i] >= 0 else None
        return kwh, m.power_w(now), m.per_phase(models.CURRENT, now), m.per_phase(models.VOLTAGE, now)

    def reset_kept_energy(self, now):
        """Start the kept resettable energies from zero (service code
        ResetMeterEnergy); False when no meter with fresh counters keeps any."""
        kept = dict(self._kept)
        for n, m in ((1, self.meters[0]), (2, self.meters[1])):
            if m is None or not m.model.kept:
                continue
            imp = m.value(models.IMPORT, now)
            exp = m.value(models.EXPORT, now)
            if imp is None or exp is None:
                return False
            kept[str(n)] = {"import": imp, "export": exp}
        if kept == self._kept:
            return False
        write_atomic(self._kept_path, json.dumps(kept))
        self._kept = kept
        log.info("meters: resettable energies restarted from zero")
        return True


class _Absent:
    """The port of a bus the board does not have: every request fails."""

    def __init__(self, why):
        self.why = why

    async def send(self, data):
        raise OSError(self.why)

    async def recv(self, n, timeout_ms):
        return b""

    def close(self):
        pass


def _entry(desc, errs, value, fresh):
    return {"Desc": desc, "ErrCounter": errs, "Value": value, "DataStatus": "Valid" if fresh else "Not available"}


def _silence_ms(baud, framing):
    """3.5 characters on the line in whole ms, rounded up (start, 8 data,
    parity, stop bits); at least 2 ms, as Modbus asks above 19200 baud."""
    bits = 9 + (framing[1] != "N") + int(framing[2])
    return max(2, -(-35 * bits * 100 // baud))


