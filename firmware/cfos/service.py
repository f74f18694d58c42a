"""cFos at run time: what app.runtime starts when CfosModbus or CfosUrl is
set (docs/cfos.md). Neither set, this package is never imported.

    for name, task in tasks(charger):   # app.runtime runs each guarded
        ...

With CfosModbus: the Modbus TCP server (cfos.modbus_server) and the /cnf
mapping on the WebAPI's server (cfos.http), both on one register map
(cfos.registers). With CfosUrl: the HTTP input mode (cfos.ajax). Either
way, once a second, the manager's word lapses if it has fallen silent
(cfos.steer).
"""

from app.aio import sleep_ms
from cfos.steer import Steer

WATCH_MS = 1000


def serial(mac):
    """The serial number the Power Brain shows (8008s), from the MAC:
    ``"AA:BB:CC:DD:EE:FF"`` -> ``"aabb-ccdd-eeff"``."""
    h = mac.replace(":", "").lower()
    return "%s-%s-%s" % (h[0:4], h[4:8], h[8:12])


def tasks(charger):
    """(name, coroutine function) of each task to run; the /cnf route added
    to ``charger.web`` (call after app.webapi.create)."""
    m = charger.manager
    c = m.settings()
    steer = Steer(m)
    charger.cfos = steer
    clock = charger.clock

    async def watch():
        while True:
            steer.expire(clock.ticks())
            await sleep_ms(WATCH_MS)

    out = [("cfos-watch", watch)]
    if c["CfosModbus"]:
        from cfos import http
        from cfos.modbus_server import ModbusServer
        from cfos.registers import Meter, Wallbox

        number = serial(charger.wifi.mac())
        wallbox = Wallbox(m, steer, number, charger.version)
        meters = (Meter(m, 1, number, charger.version), Meter(m, 2, number, charger.version))
        http.install(charger.web, charger, wallbox, meters)
        server = ModbusServer(wallbox, steer, clock)
        host = charger.sim.get("host", "0.0.0.0")
        port = c["CfosModbusPort"]

        async def modbus():
            await server.run(host, port)

        out.append(("cfos-modbus", modbus))
    if c["CfosUrl"]:
        from cfos.ajax import Push

        push = Push(m, steer, clock, "EVSE-ESP32 " + charger.version)
        out.append(("cfos-push", push.run))
    return out
