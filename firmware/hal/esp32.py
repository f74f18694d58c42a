"""The ESP32 board: the kernel's inputs from ADCs and GPIOs, its outputs to PWM and pins.

    board = Esp32Board(hal.board.load("board.json"))   # outputs start safe
    board.safe()                                      # ... and say so again
    board.start_watchdog(2000)
    while True:
        board.read(now, kernel.inputs)
        kernel.step(now)
        board.write(now, kernel)
        board.feed_watchdog()

The Control Pilot is driven by ``machine.PWM`` at the board's ``cp.pwm_hz``
(1 kHz) through a +-12 V driver: GPIO high = +12 V. A duty of 1000 per mille
is a steady +12 V (no offer), 0 a steady -12 V (state F).

The CP ADC sees the whole waveform, so ``read()`` samples it in a burst over
a little more than one PWM period and keeps the highest sample as the high
level (the vehicle's state) and the lowest as the low level (the diode
check). With a steady line both are the same level, as the kernel expects.

Readings are calibrated millivolts (``ADC.read_uv()`` at ``ATTN_11DB``,
ADC1 pins only: ADC2 cannot be read while WiFi runs). The board file's
calibration turns them into CP volts in the kernel, not here.

A board file section that is missing means the hardware is absent (see
``hal/board.py``): no ``rcm`` reads as never tripped, a relay without
``feedback_pin`` reads back its own command, and so on.

``read()`` and ``write()`` allocate nothing and raise nothing (small ints
only, no floats, tuples or strings), so the control tick can run with the
heap locked. Everything, including the NTC table, is prepared in __init__.
"""

import math
import time

import machine

from evse.compat import const
from evse.lock import DRIVE_OFF
from evse.pilot import PWM_OFF

U16_MAX = const(65535)

# The CP burst: at least this many samples, over at least 1.25 PWM periods
# so both halves of even the shortest duty (100 per mille at 6 A) are seen.
CP_SAMPLES = const(40)
CP_WINDOW_PERIODS_X4 = const(5)

AVERAGE_SAMPLES = const(4)  # PP and temperature change slowly: a short average

# At ATTN_11DB the ESP32 ADC saturates a little above 3 V. A PP line read at
# or above this is not loaded by any cable resistor: report the pull-up's
# full voltage so the kernel sees "no cable" rather than a bogus resistance.
ADC_CEILING_MV = const(3000)

# Servo lock: standard hobby-servo pulses at 50 Hz. Between moves the pulses
# stop, so the servo does not hold (and heat) against its end stop.
SERVO_HZ = const(50)
SERVO_LOCK_NS = const(2000000)
SERVO_UNLOCK_NS = const(1000000)

# NTC: from ground to the ADC pin, ``series_ohm`` from the 3.3 V rail to the
# pin. The table holds the pin voltage every NTC_STEP_C degrees.
NTC_SUPPLY_MV = const(3300)
NTC_MIN_C = const(-40)
NTC_MAX_C = const(150)
NTC_STEP_C = const(5)


def ntc_table(beta, r25_ohm, series_ohm):
    """Pin millivolts at NTC_MIN_C, +NTC_STEP_C, ... NTC_MAX_C (falling as it warms).

    The beta formula R(T) = R25 * exp(beta * (1/T - 1/298.15 K)) needs floats,
    so it runs once here; ``ntc_c10`` interpolates the table with integers.
    """
    table = []
    for c in range(NTC_MIN_C, NTC_MAX_C + 1, NTC_STEP_C):
        r = r25_ohm * math.exp(beta * (1 / (c + 273.15) - 1 / 298.15))
        table.append(int(NTC_SUPPLY_MV * r / (r + series_ohm) + 0.5))
    return table


def ntc_fault(mv, table):
    """True when the pin sits at a rail: the sensor is open (the pin pulled up
    to the table's cold end, or to the ADC's ceiling, which with the devkit's
    10 kohm divider is about -20 C) or shorted (at the table's hot end). The
    temperature such a reading gives means nothing: the kernel stops."""
    return mv >= table[0] or mv >= ADC_CEILING_MV or mv <= table[-1]


def ntc_c10(mv, table):
    """Temperature in deci-degrees C for a pin voltage, clamped to the table
    (where ``ntc_fault`` says the reading means nothing)."""
    if mv >= table[0]:
        return NTC_MIN_C * 10
    for k in range(1, len(table)):
        lower_mv = table[k]
        if mv >= lower_mv:
            upper_mv = table[k - 1]
            base_c10 = (NTC_MIN_C + (k - 1) * NTC_STEP_C) * 10
            return base_c10 + NTC_STEP_C * 10 * (upper_mv - mv) // (upper_mv - lower_mv)
    return NTC_MAX_C * 10


def _adc(pin) -> "machine.ADC":
    return machine.ADC(machine.Pin(pin), atten=machine.ADC.ATTN_11DB)


def _input(pin) -> "machine.Pin | None":
    """An input pin, or None where the board file leaves it out.

    No internal pull resistor: the input-only GPIOs 34-39 have none, so every
    input has its pull-up or pull-down on the board.
    """
    if pin is None:
        return None
    return machine.Pin(pin, machine.Pin.IN)


def _output(pin) -> "machine.Pin | None":
    """An output pin driven low at once (all outputs are active-high), or None."""
    if pin is None:
        return None
    return machine.Pin(pin, machine.Pin.OUT, value=0)


def _active(pin: "machine.Pin", active_low) -> bool:
    level = pin.value()
    return level == 0 if active_low else level == 1


def _average_mv(adc: "machine.ADC") -> int:
    total = 0
    for _ in range(AVERAGE_SAMPLES):
        total += adc.read_uv()
    return total // (AVERAGE_SAMPLES * 1000)


class Esp32Board:
    """The HAL for ``"hal": "esp32"`` boards; ``board`` is the parsed board file."""

    def __init__(self, board):
        cp = board["cp"]
        relay = board["relay"]
        # Outputs first, each created in its safe state: contactor open, CP +12 V.
        self._relay = machine.Pin(relay["pin"], machine.Pin.OUT, value=0)
        self._relay_on = False
        hz = cp.get("pwm_hz", 1000)
        self._cp_pwm = machine.PWM(machine.Pin(cp["pwm_pin"]), freq=hz, duty_u16=U16_MAX)
        self._duty = PWM_OFF
        self._cp_adc = _adc(cp["adc_pin"])
        self._cp_window_us = 1000000 * CP_WINDOW_PERIODS_X4 // (4 * hz)
        self._cp_high_uv = 0
        self._cp_low_uv = 0

        self._relay_fb = _input(relay.get("feedback_pin"))
        self._relay_fb_low = relay.get("feedback_active_low", False)

        lock = board.get("lock", {})
        servo = lock.get("type") == "servo"
        self._servo = machine.PWM(machine.Pin(lock["servo_pin"]), freq=SERVO_HZ, duty_u16=0) if servo else None
        self._lock_pin = None if servo else _output(lock.get("lock_pin"))
        self._unlock_pin = None if servo else _output(lock.get("unlock_pin"))
        self._lock_drive = DRIVE_OFF
        self._lock_fb = _input(lock.get("feedback_pin"))
        self._lock_fb_low = lock.get("feedback_active_low", False)

        epo = board.get("epo", {})
        self._epo = _input(epo.get("pin"))
        self._epo_low = epo.get("active_low", False)

        rcm = board.get("rcm", {})
        self._rcm_test = _output(rcm.get("test_pin"))
        self._rcm_trip = _input(rcm.get("trip_pin"))
        self._rcm_trip_low = rcm.get("trip_active_low", False)

        pp = board.get("pp")
        self._pp_adc = _adc(pp["adc_pin"]) if pp else None
        self._pp_vref_mv = pp["vref_mv"] if pp else 0

        temp = board.get("temperature")
        self._temp_adc = _adc(temp["adc_pin"]) if temp else None
        self._ntc = ntc_table(temp["ntc_beta"], temp["ntc_r25_ohm"], temp["series_ohm"]) if temp else [0]

        self._rs485 = board.get("rs485")
        self._wdt = None  # type: machine.WDT | None

    def safe(self):
        """Contactor open, CP at steady +12 V, lock and RCM test undriven."""
        self._relay.value(0)
        self._relay_on = False
        self._cp_pwm.duty_u16(U16_MAX)
        self._duty = PWM_OFF
        self._lock_drive = DRIVE_OFF
        if self._servo is not None:
            self._servo.duty_u16(0)
        if self._lock_pin is not None:
            self._lock_pin.value(0)
        if self._unlock_pin is not None:
            self._unlock_pin.value(0)
        if self._rcm_test is not None:
            self._rcm_test.value(0)

    # -- the control tick ---------------------------------------------------------

    def read(self, now, i):
        """Fill the kernel's Inputs from the ADCs and input pins."""
        self._sample_cp()
        i.cp_high_mv = self._cp_high_uv // 1000
        i.cp_low_mv = self._cp_low_uv // 1000
        if self._pp_adc is not None:
            mv = _average_mv(self._pp_adc)
            i.pp_mv = self._pp_vref_mv if mv >= ADC_CEILING_MV else mv
        # else: pp_mv stays 0, which a socket (case B) setting reports as a PP error.
        if self._relay_fb is not None:
            i.relay_closed = _active(self._relay_fb, self._relay_fb_low)
        else:
            i.relay_closed = self._relay_on
        i.lock_locked = self._lock_fb is not None and _active(self._lock_fb, self._lock_fb_low)
        i.epo = self._epo is not None and _active(self._epo, self._epo_low)
        i.rcm_trip = self._rcm_trip is not None and _active(self._rcm_trip, self._rcm_trip_low)
        if self._temp_adc is not None:
            mv = _average_mv(self._temp_adc)
            i.temp_fault = ntc_fault(mv, self._ntc)
            i.temp_c10 = ntc_c10(mv, self._ntc)
        # current_a stays -1: this board has no current sensor

    def _sample_cp(self):
        """Burst-sample the CP; keep the extremes in _cp_high_uv and _cp_low_uv."""
        adc = self._cp_adc
        high = low = adc.read_uv()
        n = 1
        start = time.ticks_us()
        while n < CP_SAMPLES or time.ticks_diff(time.ticks_us(), start) < self._cp_window_us:
            uv = adc.read_uv()
            if uv > high:
                high = uv
            elif uv < low:
                low = uv
            n += 1
        self._cp_high_uv = high
        self._cp_low_uv = low

    def write(self, now, k):
        """Apply the kernel's outputs."""
        self._relay_on = k.relay
        self._relay.value(1 if k.relay else 0)
        if k.pwm_permille != self._duty:
            # Only on change: each call reprograms the LEDC channel.
            self._duty = k.pwm_permille
            self._cp_pwm.duty_u16(self._duty * U16_MAX // 1000)
        if k.lock_drive != self._lock_drive:
            self._lock_drive = k.lock_drive
            self._drive_lock(k.lock_drive)
        if self._rcm_test is not None:
            self._rcm_test.value(1 if k.rcm_test else 0)

    def _drive_lock(self, drive):
        if self._servo is not None:
            if drive == DRIVE_OFF:
                self._servo.duty_u16(0)
            else:
                self._servo.duty_ns(SERVO_LOCK_NS if drive > 0 else SERVO_UNLOCK_NS)
            return
        if self._lock_pin is None or self._unlock_pin is None:
            return
        # The side being released goes low first, so the H-bridge never drives both ways.
        if drive <= 0:
            self._lock_pin.value(0)
        if drive >= 0:
            self._unlock_pin.value(0)
        if drive > 0:
            self._lock_pin.value(1)
        elif drive < 0:
            self._unlock_pin.value(1)

    # -- the meters' bus ----------------------------------------------------------

    def rs485(self, baud, parity, stop):
        """The RS485 UART and its driver-enable pin (held low: receiving), for
        meters.link.SerialPort. ``parity``: None, 0 (even) or 1 (odd)."""
        bus = self._rs485
        if not bus:
            raise OSError("this board has no RS485 port")
        de = machine.Pin(bus["de_pin"], machine.Pin.OUT, value=0)
        uart = machine.UART(
            bus["uart"], baudrate=baud, bits=8, parity=parity, stop=stop, tx=bus["tx_pin"], rx=bus["rx_pin"], rxbuf=512
        )
        return uart, de

    # -- supervision ------------------------------------------------------------

    def start_watchdog(self, timeout_ms):
        """Start the hardware watchdog (once; on the ESP32 it cannot be stopped)."""
        if self._wdt is None:
            self._wdt = machine.WDT(timeout=timeout_ms)

    def hold_watchdog(self, timeout_ms):
        """Stretch a running watchdog to ``timeout_ms``, for an app stopped at
        the REPL; returns it, or None when no watchdog runs (none is started).

        The ESP32's watchdog cannot be stopped, but creating ``machine.WDT``
        again gives it a new timeout (ESP-IDF reconfigures its task watchdog).
        """
        if self._wdt is None:
            return None
        self._wdt = machine.WDT(timeout=timeout_ms)
        return timeout_ms

    def feed_watchdog(self):
        if self._wdt is not None:
            self._wdt.feed()

    def restart(self):
        machine.reset()
