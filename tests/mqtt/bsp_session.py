"""A board-support session under a MicroPython port (or CPython): the real
charger (tests/charger/rig.py, virtual time) and mqtt.boardsupport, with
EVerest's commands handed to the adapter's callback as the client would and
every publication printed as one JSON line [topic, payload]; the last line
is the charger's state at each checkpoint. test_boardsupport_micropython.py
runs it on both ports and validates every payload against the schema.

    micropython bsp_session.py     (in a scratch directory: the charger's files)
"""

import json
import sys

_root = __file__.rpartition("/")[0].rpartition("/")[0].rpartition("/")[0]  # no os.path under MicroPython
sys.path[:0] = [_root + "/firmware", _root + "/tests/charger"]

from rig import Rig  # noqa: E402
from mqtt.boardsupport import Adapter  # noqa: E402

PREFIX = "garage/evse"  # MqttPrefix: EVerest's module id is it with "_" for "/"
EVEREST = "everest_api/1/evse_board_support/garage_evse"


class Recorder:
    """The client's API; what is published is printed (the broker's side
    of it is tests/mqtt/test_boardsupport.py's)."""

    def publish(self, topic, payload, retain=False, qos=0):
        print(json.dumps([topic, payload]))

    def subscribe(self, filt, callback, qos=0):
        self.callback = callback

    def on_connect(self, cb):
        self.connected = cb


def main():
    r = Rig()
    c = Recorder()
    a = Adapter(r.charger, c, PREFIX)
    c.connected()
    beats = [0]
    checks = {}

    def send(name, payload=""):
        c.callback(EVEREST + "/e2m/" + name, payload)

    def run(ms, beating=True):
        while ms > 0:
            if beating:
                beats[0] += 1
                send("heartbeat", str(beats[0]))
            r.run(500)
            a.poll()
            ms -= 500

    run(1000)
    r.vehicle("B")
    run(1000)
    send("pwm_on", "26.7")
    r.vehicle("C")
    run(1000)
    checks["not_allowed"] = r.m.charging
    send("allow_power_on", '{"allow_power_on": true, "reason": "FullPowerCharging"}')
    run(5000)
    checks["charging"] = r.m.charging
    checks["offered"] = r.m.offered_a
    r.fault("CpShort")
    run(1000)
    checks["fault_open"] = not r.m.charging
    r.fault("CpShort", False)
    run(8000)
    checks["again"] = r.m.charging
    run(10000, beating=False)  # silence: no offer at once, open 6 s later
    checks["silent_open"] = not r.m.charging and r.m.offered_a == 0
    print(json.dumps(checks))


main()
