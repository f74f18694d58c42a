"""The ESP32 adapter's control tick with the heap locked, under a MicroPython unix port.

    micropython tests/esp32_tour.py [--start-us US] [--start-ms MS]

hal/esp32.py's ``read()`` and ``write()`` with the real Kernel between them,
on a fake ``machine`` whose values are the board's own: ``ADC.read_uv()``
returns calibrated microvolts as an ESP32 does (a few million, a little
noise), the CP follows the PWM duty the adapter sets, the relay and lock
feedback follow their drives. ``time.ticks_us`` is a microsecond counter
that wraps at 2^30 like the ESP32's, started at ``--start-us`` (default: just
before its wrap); kernel time starts at ``--start-ms``. A vehicle is plugged
in, charges, stops and leaves: more than 10,000 ticks, every one with the
heap locked, so any allocation is a MemoryError. Prints one JSON line.
"""

import gc
import json
import sys

HERE = __file__.rpartition("/")[0] or "."  # no os.path under MicroPython
sys.path[:0] = [HERE + "/../firmware"]

import micropython  # noqa: E402

from evse.compat import ticks_add, ticks_diff, TICKS_MASK  # noqa: E402
from evse.kernel import Kernel, Settings  # noqa: E402
from evse.pilot import cp_mv_to_adc  # noqa: E402
from hal import board as boardfile  # noqa: E402

BOARD = boardfile.load(HERE + "/../boards/esp32-devkit.json")
CP, PP, NTC = BOARD["cp"]["adc_pin"], BOARD["pp"]["adc_pin"], BOARD["temperature"]["adc_pin"]
RELAY, RELAY_FB = BOARD["relay"]["pin"], BOARD["relay"]["feedback_pin"]
LOCK, UNLOCK, LOCK_FB = BOARD["lock"]["lock_pin"], BOARD["lock"]["unlock_pin"], BOARD["lock"]["feedback_pin"]
RCM_TEST, RCM_TRIP = BOARD["rcm"]["test_pin"], BOARD["rcm"]["trip_pin"]
READ_US = 37  # each ADC read takes this long
TICK_MS = 10


def _uv(cp_mv):
    cp = BOARD["cp"]
    return cp_mv_to_adc(cp_mv, cp["adc_at_p12_mv"], cp["adc_at_m12_mv"]) * 1000


class Hardware:
    """Levels, the CP's PWM, and the microsecond clock, all small ints."""

    def __init__(self, start_us):
        self.us = start_us
        self.levels = {}
        for pin in (RELAY, RELAY_FB, LOCK, UNLOCK, LOCK_FB, RCM_TEST, RCM_TRIP, BOARD["epo"]["pin"]):
            self.levels[pin] = 0  # every key now: later writes never grow the dict
        self.locked = False
        self.cp_high_uv = _uv(12000)
        self.cp_low_uv = _uv(-12000)
        self.high_us = 1000  # of each 1 ms PWM period, from the duty
        self.fed = 0

    def vehicle(self, cp_mv):
        self.cp_high_uv = _uv(cp_mv)

    # time.* as hal.esp32 calls them: wrapping at 2^30 like the ESP32's ticks_us()
    def ticks_us(self):
        return self.us

    def ticks_diff(self, later, earlier):
        return ticks_diff(later, earlier)


def fake_machine(hw):
    class Pin:
        IN = 1
        OUT = 3

        def __init__(self, gpio, mode=-1, pull=-1, value=None):
            self.gpio = gpio
            if value is not None:
                self.value(value)

        def value(self, level=None):  # not *level: a tuple per call would be the fake's allocation
            g = self.gpio
            if level is not None:
                hw.levels[g] = 1 if level else 0
                if g == LOCK and level:
                    hw.locked = True
                elif g == UNLOCK and level:
                    hw.locked = False
                return None
            if g == RELAY_FB:
                return 0 if hw.levels[RELAY] else 1  # active low mirror contact
            if g == LOCK_FB:
                return 0 if hw.locked else 1
            if g == RCM_TRIP:
                return hw.levels[RCM_TEST]  # the self-test current trips it
            return hw.levels.get(g, 0)

    class PWM:
        def __init__(self, pin, freq=0, duty_u16=0):
            self.gpio = pin.gpio
            self.duty_u16(duty_u16)

        def duty_u16(self, value):
            if self.gpio == BOARD["cp"]["pwm_pin"]:
                hw.high_us = value * 1000 // 65535

        def duty_ns(self, value):
            pass

    class ADC:
        ATTN_11DB = 3

        def __init__(self, pin, atten=0):
            self.gpio = pin.gpio

        def read_uv(self):
            us = hw.us
            hw.us = ticks_add(us, READ_US)
            noise = (us >> 2 & 15) * 250  # up to 3.75 mV, as an ESP32's ADC wanders
            g = self.gpio
            if g == CP:
                return (hw.cp_high_uv if us % 1000 < hw.high_us else hw.cp_low_uv) + noise
            if g == PP:
                return 3100000 + noise  # no cable: above the ADC's ceiling
            return 1650000 + noise  # NTC at 25 C

    class WDT:
        def __init__(self, timeout=0):
            pass

        def feed(self):
            hw.fed += 1

    class Machine:
        pass

    m = Machine()
    m.Pin, m.PWM, m.ADC, m.WDT = Pin, PWM, ADC, WDT
    return m


# (CP millivolts of the vehicle, ticks): plug in, ask for charge, stop, leave.
LEGS = ((12000, 500), (9000, 1500), (6000, 5000), (9000, 1500), (12000, 1500))


def main():
    args = sys.argv[1:]
    start_us = TICKS_MASK - 5000
    if "--start-us" in args:
        start_us = int(args[args.index("--start-us") + 1]) & TICKS_MASK
    now = 0
    if "--start-ms" in args:
        now = int(args[args.index("--start-ms") + 1]) & TICKS_MASK
    hw = Hardware(start_us)
    sys.modules["machine"] = fake_machine(hw)
    from hal import esp32

    esp32.time = hw
    board = esp32.Esp32Board(BOARD)
    board.start_watchdog(2000)
    k = Kernel(boardfile.params(BOARD), Settings())
    seen = bytearray(12)
    relay_ticks = 0
    ticks = 0
    allocated = 0
    wrapped = False
    for cp_mv, n in LEGS:
        hw.vehicle(cp_mv)
        gc.collect()
        before = gc.mem_alloc()
        first_us = hw.us
        micropython.heap_lock()
        try:
            for _ in range(n):
                now = ticks_add(now, TICK_MS)
                board.read(now, k.inputs)
                k.step(now)
                board.write(now, k)
                board.feed_watchdog()
                seen[k.state] = 1
                if k.relay:
                    relay_ticks += 1
        finally:
            micropython.heap_unlock()
        allocated += gc.mem_alloc() - before
        wrapped = wrapped or hw.us < first_us
        ticks += n
    print(json.dumps({
        "ticks": ticks,
        "heap_locked": True,
        "alloc_bytes_per_tick": allocated / ticks,
        "states": [s for s in range(12) if seen[s]],
        "relay_ticks": relay_ticks,
        "ticks_us_wrapped": wrapped,
        "fed": hw.fed,
    }))


main()
