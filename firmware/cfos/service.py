"""cFos at run time: what app.runtime starts when CfosModbus or CfosUrl is
set (docs/cfos.md). Neither set, this package is never imported.

    for name, task in tasks(charger):   # app.runtime runs each guarded
        ...

With CfosModbus: the Modbus TCP server (cfos.modbus_server) and the /cnf
mapping on the WebAPI's server (cfos.http), both on one register map
(cfos.registers). With CfosUrl: the HTTP input mode (cfos.ajax). Either
task ends the word of a manager that has fallen silent (cfos.steer), once a
second or more often.
"""

from cfos.steer import Steer


def serial(mac):
    """The serial number the Power Brain shows (8008s), from the MAC:
    ``"AA:BB:CC:DD:EE:FF"`` -> ``"aabb-ccdd-eeff"``."""
    h = mac.replace(":", "").lower()
    return "%s-%s-%s" % (h[0:4], h[4:8], h[8:12])


def tasks(charger):
    """(name, coroutine function) of each task to run; the /cnf route added
    to ``charger.web`` (call after app.webapi.create), cfos.http loaded
    with its first request."""
    m = charger.manager
    c = m.settings()
    steer = Steer(m)
    clock = charger.clock
    out = []
    if c["CfosModbus"]:
        from cfos.modbus_server import ModbusServer
        from cfos.registers import Registers

        number = serial(charger.wifi.mac())
        devices = [Registers(m, steer if n == 0 else None, n, number, charger.version) for n in range(3)]

        @charger.web.route("/cnf", methods=["GET", "POST"])
        async def cnf(req):
            from cfos import http  # its code loads with the first request: managers use Modbus

            return await http.handle(req, charger, devices)

        server = ModbusServer(devices[0], steer, clock)
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
