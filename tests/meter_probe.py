"""Poll one meter with the firmware's own Modbus client and print what it got,
as one JSON line. Runs under MicroPython's unix port and CPython alike:

    micropython tests/meter_probe.py '{"model": "SDM120M", "link": "tcp", "port": 5020, ...}'

Settings: model (name), link ("tcp" Modbus TCP | "rtu-tcp" RTU frames over
TCP | "serial" RTU on a device), host, port, device, unit, timeout_ms,
silence_ms, polls (cycles to run), pause_ms (between cycles).
"""

import sys

sys.path[:0] = [sys.argv[0].rsplit("/", 2)[0] + "/firmware"]

import asyncio
import json

from app.aio import sleep_ms, ticks_diff, ticks_ms
from app.clock import RealClock
from meters import models
from meters.link import MbapLink, RtuLink, SerialPort, TcpPort
from meters.meter import Meter


def link_for(s):
    timeout = s.get("timeout_ms", 300)
    if s["link"] == "serial":
        from hal.serial_posix import PosixSerial

        return RtuLink(SerialPort(PosixSerial(s["device"])), s.get("silence_ms", 5), timeout)
    port = TcpPort(s.get("host", "127.0.0.1"), s["port"])
    if s["link"] == "rtu-tcp":
        return RtuLink(port, s.get("silence_ms", 5), timeout)
    return MbapLink(port, timeout)


async def probe(s):
    model = models.by_name(s["model"])
    link = link_for(s)
    clock = RealClock()
    meter = Meter(model, link, s.get("unit", 1), 60000)
    cycles = []
    for n in range(s.get("polls", 1)):
        if n:
            await sleep_ms(s.get("pause_ms", 0))
        start = ticks_ms()
        await meter.poll(clock)
        cycles.append(ticks_diff(ticks_ms(), start))
    now = clock.uptime_ms()
    return {
        "values": {str(r[0]): meter.values[i] for i, r in enumerate(model.registers) if meter.fresh(i, now)},
        "errs": meter.errs,
        "errors": meter.errors,
        "last_error": meter.last_error,
        "through_gaps": meter.through_gaps,
        "sent": link.sent,
        "received": link.received,
        "requests": len(models.blocks(model)) * len(cycles),
        "cycle_ms": cycles,
    }


print(json.dumps(asyncio.run(probe(json.loads(sys.argv[1])))))
