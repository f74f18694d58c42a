"""Simulated energy meters: ``pymodbus`` servers holding a meter model's registers.

A simulated meter holds exactly the input registers its model lists
(``firmware/meters/models.py``, the file the firmware reads too), as
IEEE-754 float32, high word first, function code 0x04. Their values are
computed on each read from a *source*, a callable that answers the physical
quantities at that moment::

    {"VoltageV": 230.0, "CurrentA": [a1, a2, a3], "ImportWh": float, "ExportWh": float}

so a read always shows the instant it happens, however the firmware's clock
runs. Power factor is 1: a phase's power is V × I, the total is the sum over
the model's phases (a single-phase model sees phase 1 only); energies are in
kWh, the resettable ones equal the totals (nothing ever resets them).

Addresses outside the model's registers answer exception 0x02 (illegal data
address), except the few unlisted registers inside a request block the
firmware reads in one go (``models.blocks``): most meters answer those
reads, so the gaps hold 0 (a strict meter, ``gaps=False``, refuses them). Any function but 0x04 answers exception 0x01.

Servers: Modbus TCP (MBAP), RTU framing over TCP (a serial-to-Ethernet
converter) and RTU on a serial device (a USB-RS485 adapter or a pty). One
server holds one or more meters at their unit ids, as meters share an RS485
bus; on RTU a request for an absent unit goes unanswered, as on a bus, while
Modbus TCP answers it with exception 0x0B, as a gateway does.

``pymodbus`` is imported only when a server starts, so commands that never
simulate a meter do not pay for it.
"""

import asyncio
import struct
import sys
import threading
import time

from evsectl import paths
from evsectl.errors import UserError
from evsectl.loopthread import LoopThread


def models():
    """The firmware's meter models module.

    It imports ``evse.compat`` as it does on the device, so the firmware
    directory goes on ``sys.path`` (at the end, so it shadows nothing).
    """
    firmware = str(paths.firmware_dir())
    if firmware not in sys.path:
        sys.path.append(firmware)
    from meters import models as m

    return m


def values(model, reading):
    """{address: value} of every register ``model`` holds, for ``reading``."""
    m = models()
    volts = reading["VoltageV"]
    amps = reading["CurrentA"][: model.phases]
    watts = [volts * a for a in amps]
    total = sum(watts)
    imported = reading["ImportWh"] / 1000
    exported = reading["ExportWh"] / 1000
    scalar = {
        m.TOTAL_POWER: total,
        m.IMPORT: imported,
        m.EXPORT: exported,
        m.TOTAL: imported + exported,
        m.RESET_TOTAL: imported + exported,
        m.RESET_IMPORT: imported,
        m.RESET_EXPORT: exported,
        m.IMPORT_POWER: max(total, 0.0),
        m.EXPORT_POWER: max(-total, 0.0),
    }
    per_phase = {m.VOLTAGE: [volts] * model.phases, m.CURRENT: amps, m.POWER: watts}
    seen = {}  # meaning -> how many per-phase registers of it came before (the phase index)
    out = {}
    for address, _, meaning in model.registers:
        if meaning in per_phase:
            phase = seen.get(meaning, 0)
            seen[meaning] = phase + 1
            out[address] = per_phase[meaning][phase]
        else:
            out[address] = scalar[meaning]
    return out


def gaps(model):
    """Unlisted addresses inside the model's request blocks (read as 0)."""
    listed = set()
    for address, _, _ in model.registers:
        listed.update((address, address + 1))
    return sorted(a for start, count in models().blocks(model) for a in range(start, start + count)
                  if a not in listed)


class Meter:
    """One simulated meter: a model at a unit id, its values from ``source``."""

    def __init__(self, model, source, unit=1, gaps=True):
        if not 1 <= unit <= 247:
            raise ValueError("unit id %r out of range 1..247" % unit)
        self.model = model
        self.source = source
        self.unit = unit
        self.gaps = gaps  # False: a strict meter, exception 0x02 for any unlisted register
        self._failing = False

    async def _on_access(self, function_code, start_address, address, count, registers, set_values):
        """pymodbus calls this on each access its address check let through;
        ``registers`` is the device's block from ``start_address``, changed in place."""
        from pymodbus.constants import ExcCodes

        if function_code != 4:
            return ExcCodes.ILLEGAL_FUNCTION
        try:
            # The source may block (an HTTP fetch); the server's loop must not.
            held = values(self.model, await asyncio.to_thread(self.source))
        except Exception as e:  # whatever fails the source fails the meter
            if not self._failing:
                print("simulated meter at unit %d has no reading: %s" % (self.unit, e), file=sys.stderr, flush=True)
            self._failing = True
            return ExcCodes.DEVICE_FAILURE
        self._failing = False
        for addr, value in held.items():
            registers[addr - start_address: addr - start_address + 2] = struct.unpack(">HH", struct.pack(">f", value))
        return None

    def device(self):
        """The pymodbus SimDevice holding this meter's registers."""
        from pymodbus.simulator import DataType, SimData, SimDevice

        data = [SimData(addr, values=0.0, datatype=DataType.FLOAT32, readonly=True)
                for addr, _, _ in self.model.registers]
        if self.gaps:
            data += [SimData(addr, values=0, datatype=DataType.REGISTERS, readonly=True) for addr in gaps(self.model)]
        return SimDevice(self.unit, simdata=data, action=self._on_access)


class _Units:
    """A server's datastore that knows which unit ids are present.

    pymodbus's own store answers an absent unit with a device failure; this
    one says "no such unit", which the server turns into silence (RTU, as on
    a bus) or exception 0x0B (Modbus TCP, as a gateway).
    """

    def __init__(self, core, absent=None):
        self.core = core
        self.absent = absent

    def _check(self, unit):
        from pymodbus.exceptions import NoSuchIdException

        if unit not in self.core.devices:
            if self.absent:
                self.absent(unit)
            raise NoSuchIdException("no meter at unit %d" % unit)

    async def async_getValues(self, unit, func_code, address, count=1):
        self._check(unit)
        return await self.core.async_getValues(unit, func_code, address, count)

    async def async_setValues(self, unit, func_code, address, values):
        self._check(unit)
        return await self.core.async_setValues(unit, func_code, address, values)

    def device_ids(self):
        return self.core.device_ids()


class MeterServer:
    """Meters served on one link, from a loop thread of their own.

    ``transport``: "tcp" (Modbus TCP), "rtu-over-tcp", or "serial" (RTU on
    ``device`` with ``baud``/``parity``/``stopbits``). ``port`` 0 picks a
    free port; after ``start`` it is the port listened on. ``absent(unit)``
    is called on each request for a unit no meter here has.
    """

    def __init__(self, meters, transport="tcp", port=0, host="127.0.0.1", device=None, baud=9600,
                 parity="N", stopbits=1, absent=None):
        if transport not in ("tcp", "rtu-over-tcp", "serial"):
            raise ValueError("transport must be tcp, rtu-over-tcp or serial, not %r" % transport)
        units = [m.unit for m in meters]
        if not units or len(set(units)) != len(units):
            raise ValueError("each meter needs a unit id of its own: %r" % units)
        self.meters = meters
        self.transport = transport
        self.port = port
        self.host = host
        self.device = device
        self.serial = dict(baudrate=baud, parity=parity, stopbits=stopbits)
        self.absent = absent
        self._loop = None
        self._server = None

    def start(self):
        self._loop = LoopThread("meter-sim")
        try:
            self._loop.run(self._start())
        except BaseException:
            self._loop.close()
            raise
        return self

    async def _start(self):
        from pymodbus import FramerType
        from pymodbus.server import ModbusSerialServer, ModbusTcpServer

        devices = [m.device() for m in self.meters]
        rtu = self.transport != "tcp"
        if self.transport == "serial":
            server = ModbusSerialServer(devices, framer=FramerType.RTU, port=self.device, ignore_missing_devices=True,
                                        **self.serial)
        else:
            server = ModbusTcpServer(devices, framer=FramerType.RTU if rtu else FramerType.SOCKET,
                                     address=(self.host, self.port), ignore_missing_devices=rtu)
        server.context = _Units(server.context, self.absent)
        try:
            await server.serve_forever(background=True)
        except Exception as e:  # pymodbus says RuntimeError (having logged why); termios says termios.error
            where = self.device if self.transport == "serial" else "%s:%d" % (self.host, self.port)
            raise OSError("cannot serve on %s: %s" % (where, e)) from None
        if self.transport != "serial":
            self.port = server.transport.sockets[0].getsockname()[1]
        self._server = server

    def stop(self):
        if self._loop is None:
            return
        if self._server is not None:
            self._loop.run(self._server.shutdown())
            self._server = None
        self._loop.close()
        self._loop = None

    def where(self):
        """Where the meters are served, for people: "Modbus TCP on 127.0.0.1:502"."""
        if self.transport == "serial":
            s = self.serial
            return "Modbus RTU on %s (%d 8%s%d)" % (self.device, s["baudrate"], s["parity"], s["stopbits"])
        kind = "Modbus TCP" if self.transport == "tcp" else "Modbus RTU over TCP"
        return "%s on %s:%d" % (kind, self.host, self.port)


class SteadyLoad:
    """A standalone meter's source: a constant load at ``voltage``.

    ``power_w`` is split evenly over ``phases`` (or every phase draws
    ``current_a``); energy counts up in real time from ``import_kwh``
    (negative power counts as export, as a feeding inverter's would).
    """

    def __init__(self, phases, power_w=None, current_a=None, import_kwh=0.0, voltage=230.0, clock=time.monotonic):
        if current_a is None:
            current_a = power_w / voltage / phases
        self.voltage = voltage
        self.currents = [current_a] * phases + [0.0] * (3 - phases)
        self.power_w = voltage * current_a * phases
        self._import_wh = import_kwh * 1000
        self._clock = clock
        self._since = clock()

    def __call__(self):
        wh = self.power_w * (self._clock() - self._since) / 3600
        return {"VoltageV": self.voltage, "CurrentA": list(self.currents),
                "ImportWh": self._import_wh + max(wh, 0.0), "ExportWh": max(-wh, 0.0)}


def add_parser(sub):
    p = sub.add_parser("meter-sim", help="serve one simulated energy meter (Modbus TCP, RTU over TCP or serial)",
                       description="Serve one simulated energy meter until Ctrl-C: a steady load at 230 V, its "
                                   "energy counted in real time.")
    p.add_argument("--model", required=True, help='meter model, e.g. "SDM72D-M v2" (SDM72D-M, NMID30-2, SDM120M)')
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", type=int, metavar="PORT", help="listen on this TCP port (0: any free port)")
    where.add_argument("--serial", metavar="DEVICE", help="serve Modbus RTU on this serial device, e.g. /dev/ttyUSB0")
    p.add_argument("--rtu-over-tcp", action="store_true", help="with --tcp: RTU framing, as a serial-to-Ethernet converter")
    p.add_argument("--bind", default="127.0.0.1", help="with --tcp: the address to listen on (default 127.0.0.1)")
    p.add_argument("--baud", type=int, default=9600, help="with --serial (default 9600)")
    p.add_argument("--parity", default="N", choices=("N", "E", "O"), help="with --serial (default N)")
    p.add_argument("--stopbits", type=int, default=1, choices=(1, 2), help="with --serial (default 1)")
    p.add_argument("--unit", type=int, default=1, help="Modbus unit id (default 1)")
    load = p.add_mutually_exclusive_group()
    load.add_argument("--power", type=float, help="total power in W, split over the phases (default 2300)")
    load.add_argument("--current", type=float, help="current per phase in A")
    p.add_argument("--import-kwh", type=float, default=0.0, help="import energy at start, kWh (default 0)")
    p.add_argument("--verbose", action="store_true", help="log every Modbus frame (pymodbus's debug log)")
    p.set_defaults(func=_meter_sim)


def log_frames(verbose):
    """pymodbus logs each error with the frames before it, on stderr (as when
    a client hangs up): only with ``verbose``, and then every frame."""
    import logging

    if verbose:
        from pymodbus import pymodbus_apply_logging_config

        pymodbus_apply_logging_config(logging.DEBUG)
    else:
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


class _WrongUnit:
    """Says once per unit that a client asks for a unit this meter is not:
    the usual reason a firmware reads "Not available" from a live meter."""

    def __init__(self, unit):
        self.unit = unit
        self.told = set()

    def __call__(self, unit):
        if unit not in self.told:
            self.told.add(unit)
            print("evsectl meter-sim: a request for unit %d, but this meter is unit %d: start it with --unit %d, or set the "
                  "firmware's Meter1Unit/Meter2Unit to %d" % (unit, self.unit, unit, self.unit), file=sys.stderr,
                  flush=True)


def _meter_sim(args):
    if args.serial is not None and args.rtu_over_tcp:
        raise UserError("--rtu-over-tcp goes with --tcp")
    try:
        model = models().by_name(args.model)
    except ValueError as e:
        raise UserError(str(e))
    power = 2300.0 if args.power is None and args.current is None else args.power
    load = SteadyLoad(model.phases, power_w=power, current_a=args.current, import_kwh=args.import_kwh)
    log_frames(args.verbose)
    try:
        meters = [Meter(model, load, args.unit)]
        absent = _WrongUnit(args.unit)
        if args.tcp is not None:
            server = MeterServer(meters, "rtu-over-tcp" if args.rtu_over_tcp else "tcp", port=args.tcp, host=args.bind,
                                 absent=absent)
        else:
            server = MeterServer(meters, "serial", device=args.serial, baud=args.baud, parity=args.parity,
                                 stopbits=args.stopbits, absent=absent)
        server.start()
    except (ValueError, OSError) as e:
        raise UserError(str(e))
    print("Simulated %s meter, unit %d: %s" % (model.name, args.unit, server.where()))
    print("  %.0f W over %d phase%s at %.0f V, %.3f kWh imported at start" % (
        load.power_w, model.phases, "s" if model.phases > 1 else "", load.voltage, args.import_kwh))
    for address, desc, _ in model.registers:
        print("  0x%04X  %s" % (address, desc))
    print("Ctrl-C stops it.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
