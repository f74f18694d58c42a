"""Esp32Board's own logic under CPython, on a fake ``machine`` module.

There is no ESP32 emulator to run against, so this fakes only what has no
real peer here: the GPIO levels, the PWM channels, the ADC readings and the
microsecond clock. The kernel objects (Inputs, Kernel) and the board file
are the real ones. What the fake cannot show (ADC noise, LEDC timing, that
the calls exist on the port) is the business of the hardware and of
tests/test_esp32_typecheck.py.
"""

import copy
import importlib
import math
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "firmware") not in sys.path:
    sys.path.insert(0, str(ROOT / "firmware"))

from evse.kernel import Inputs, Kernel, Params, Settings  # noqa: E402
from hal import board as board_file  # noqa: E402

DEVKIT = board_file.load(str(ROOT / "boards" / "esp32-devkit.json"))
READ_US = 37  # each fake ADC read takes this long (not a divisor of the period)


class Hardware:
    """What the fake ``machine`` drives and reads: levels, PWMs, ADC sources, a clock."""

    def __init__(self):
        self.us = 0
        self.levels = {}  # gpio -> 0/1
        self.log = []  # (gpio, level) in the order outputs were written
        self.pwm = {}  # gpio -> FakePWM
        self.adc_mv = {}  # gpio -> function of the time in us -> mV
        self.reads = 0
        self.wdt = None

    # The module-level clock functions hal.esp32 uses as ``time.*``.
    def ticks_us(self):
        return self.us

    def ticks_diff(self, later, earlier):
        return later - earlier

    def square_wave(self, gpio, high_mv, low_mv, permille, period_us=1000):
        self.adc_mv[gpio] = lambda us: high_mv if us % period_us < period_us * permille // 1000 else low_mv


def fake_machine(hw):
    m = types.ModuleType("machine")

    class Pin:
        IN = 1
        OUT = 3

        def __init__(self, gpio, mode=-1, pull=-1, *, value=None):
            self.gpio = gpio
            if value is not None:
                self.value(value)

        def value(self, *level):
            if level:
                hw.levels[self.gpio] = 1 if level[0] else 0
                hw.log.append((self.gpio, hw.levels[self.gpio]))
                return None
            return hw.levels.get(self.gpio, 0)

    class PWM:
        def __init__(self, pin, *, freq, duty_u16):
            self.freq = freq
            self.u16 = duty_u16
            self.ns = None
            hw.pwm[pin.gpio] = self

        def duty_u16(self, value):
            self.u16 = value
            self.ns = None

        def duty_ns(self, value):
            self.ns = value

    class ADC:
        ATTN_11DB = 3

        def __init__(self, pin, *, atten):
            assert atten == ADC.ATTN_11DB
            self.gpio = pin.gpio

        def read_uv(self):
            mv = hw.adc_mv[self.gpio](hw.us)
            hw.us += READ_US
            hw.reads += 1
            return mv * 1000

    class WDT:
        def __init__(self, *, timeout):
            self.timeout = timeout
            self.fed = 0
            hw.wdt = self

        def feed(self):
            self.fed += 1

    m.Pin, m.PWM, m.ADC, m.WDT = Pin, PWM, ADC, WDT
    return m


@pytest.fixture
def hw(monkeypatch):
    hw = Hardware()
    monkeypatch.setitem(sys.modules, "machine", fake_machine(hw))
    sys.modules.pop("hal.esp32", None)  # import it afresh, bound to this fake
    module = importlib.import_module("hal.esp32")
    monkeypatch.setattr(module, "time", hw)
    hw.module = module
    # Quiet analog lines unless a test says otherwise: no vehicle, no cable, 25 C.
    hw.adc_mv.update({36: lambda us: 2289, 39: lambda us: 3100, 34: lambda us: 1650})
    yield hw
    sys.modules.pop("hal.esp32", None)
    sys.modules["hal"].__dict__.pop("esp32", None)


def make(hw, board=DEVKIT):
    return hw.module.Esp32Board(board)


def outputs(relay=False, pwm=1000, lock=0, rcm_test=False):
    k = Kernel(Params(), Settings())
    k.relay, k.pwm_permille, k.lock_drive, k.rcm_test = relay, pwm, lock, rcm_test
    return k


def read(hw, b):
    i = Inputs()
    b.read(0, i)
    return i


# -- CP burst ------------------------------------------------------------------


@pytest.mark.parametrize("permille", [100, 500, 900])
def test_cp_burst_keeps_the_high_and_the_low_level(hw, permille):
    b = make(hw)
    hw.square_wave(36, high_mv=2035, low_mv=254, permille=permille)  # state B, diode present
    start = hw.us
    i = read(hw, b)
    assert (i.cp_high_mv, i.cp_low_mv) == (2035, 254)
    assert hw.reads - 8 >= hw.module.CP_SAMPLES  # 2 x 4 averaged PP/temperature reads
    assert hw.us - start >= 1250  # more than one period of 1 kHz


def test_steady_cp_reads_one_level(hw):
    b = make(hw)
    hw.adc_mv[36] = lambda us: 254  # state F: steady -12 V
    i = read(hw, b)
    assert i.cp_high_mv == i.cp_low_mv == 254


# -- inputs ----------------------------------------------------------------------


def test_active_low_and_active_high_inputs(hw):
    b = make(hw)  # relay and lock feedback active low; EPO and RCM trip active high
    hw.levels.update({27: 1, 4: 1, 35: 0, 13: 0})
    i = read(hw, b)
    assert (i.relay_closed, i.lock_locked, i.epo, i.rcm_trip) == (False, False, False, False)
    hw.levels.update({27: 0, 4: 0, 35: 1, 13: 1})
    i = read(hw, b)
    assert (i.relay_closed, i.lock_locked, i.epo, i.rcm_trip) == (True, True, True, True)


def test_flags_flip_the_polarity(hw):
    board = copy.deepcopy(DEVKIT)
    board["epo"]["active_low"] = True
    board["relay"]["feedback_active_low"] = False
    b = make(hw, board)
    hw.levels.update({35: 0, 27: 1})
    i = read(hw, b)
    assert i.epo and i.relay_closed


def test_absent_sections_read_as_absent_hardware(hw):
    board = copy.deepcopy(DEVKIT)
    for section in ("rcm", "epo", "lock", "pp", "temperature"):
        del board[section]
    del board["relay"]["feedback_pin"]
    b = make(hw, board)
    i = read(hw, b)
    assert (i.rcm_trip, i.epo, i.lock_locked, i.relay_closed) == (False, False, False, False)
    assert (i.pp_mv, i.temp_c10) == (0, 250)  # untouched defaults
    assert (i.current_a, i.power_w) == (-1, -1)
    b.write(0, outputs(relay=True, lock=1, rcm_test=True))
    assert read(hw, b).relay_closed  # without feedback the command is read back


def test_pp_reading_and_open_line(hw):
    b = make(hw)
    hw.adc_mv[39] = lambda us: 595  # 220 ohm cable: 32 A
    assert read(hw, b).pp_mv == 595
    hw.adc_mv[39] = lambda us: 3100  # saturated ADC: nothing loads the pull-up
    assert read(hw, b).pp_mv == 3300


def _ntc_mv(c):
    r = 10000 * math.exp(3950 * (1 / (c + 273.15) - 1 / 298.15))
    return round(3300 * r / (r + 10000))


@pytest.mark.parametrize("celsius", [-10, 25, 62, 80])
def test_ntc_temperature(hw, celsius):
    b = make(hw)
    hw.adc_mv[34] = lambda us: _ntc_mv(celsius)
    assert abs(read(hw, b).temp_c10 - celsius * 10) <= 3


def test_ntc_clamps_a_shorted_sensor_hot(hw):
    b = make(hw)
    hw.adc_mv[34] = lambda us: 0
    assert read(hw, b).temp_c10 == hw.module.NTC_MAX_C * 10


@pytest.mark.parametrize("mv", [0, 3000, 3100, 3300])
def test_an_open_or_shorted_ntc_is_a_sensor_fault(hw, mv):
    """Issue 20 item 4: a broken wire (the pin at the supply, or at the ADC's
    ceiling) or a short (the pin at ground) is reported, not read as -40 C."""
    b = make(hw)
    hw.adc_mv[34] = lambda us: mv
    assert read(hw, b).temp_fault is True


@pytest.mark.parametrize("celsius", [-10, 25, 62, 80, 120])
def test_a_working_ntc_is_no_sensor_fault(hw, celsius):
    b = make(hw)
    hw.adc_mv[34] = lambda us: _ntc_mv(celsius)
    assert read(hw, b).temp_fault is False


# -- outputs ---------------------------------------------------------------------


@pytest.mark.parametrize("permille, u16", [(1000, 65535), (0, 0), (100, 6553), (533, 34930)])
def test_cp_duty_scaling(hw, permille, u16):
    b = make(hw)
    b.write(0, outputs(pwm=permille))
    assert hw.pwm[25].u16 == u16
    assert hw.pwm[25].freq == 1000


def test_solenoid_lock_drive(hw):
    b = make(hw)  # lock_pin 32, unlock_pin 33
    b.write(0, outputs(lock=1))
    assert (hw.levels[32], hw.levels[33]) == (1, 0)
    del hw.log[:]
    b.write(0, outputs(lock=-1))
    assert (hw.levels[32], hw.levels[33]) == (0, 1)
    assert hw.log.index((32, 0)) < hw.log.index((33, 1))  # never both driven
    b.write(0, outputs(lock=0))
    assert (hw.levels[32], hw.levels[33]) == (0, 0)


def test_servo_lock_drive(hw):
    board = copy.deepcopy(DEVKIT)
    board["lock"] = {"type": "servo", "servo_pin": 32, "feedback_pin": 4, "feedback_active_low": True}
    b = make(hw, board)
    servo = hw.pwm[32]
    assert (servo.freq, servo.u16) == (50, 0)
    b.write(0, outputs(lock=1))
    assert servo.ns == hw.module.SERVO_LOCK_NS
    b.write(0, outputs(lock=-1))
    assert servo.ns == hw.module.SERVO_UNLOCK_NS
    b.write(0, outputs(lock=0))
    assert (servo.ns, servo.u16) == (None, 0)  # released: no pulses


def test_outputs_start_safe_and_safe_restores_them(hw):
    b = make(hw)
    assert hw.levels[26] == 0 and hw.pwm[25].u16 == 65535  # before any safe() call
    b.write(0, outputs(relay=True, pwm=533, lock=1, rcm_test=True))
    assert (hw.levels[26], hw.levels[23]) == (1, 1)
    b.safe()
    assert (hw.levels[26], hw.levels[32], hw.levels[33], hw.levels[23]) == (0, 0, 0, 0)
    assert hw.pwm[25].u16 == 65535
    b.write(0, outputs(pwm=533))  # the duty is applied again after safe()
    assert hw.pwm[25].u16 == 34930


def test_watchdog_starts_once_and_is_fed(hw):
    b = make(hw)
    b.feed_watchdog()  # before start: nothing to feed
    b.start_watchdog(2000)
    first = hw.wdt
    b.start_watchdog(5000)
    b.feed_watchdog()
    assert hw.wdt is first and (first.timeout, first.fed) == (2000, 1)


def test_an_app_stopped_at_the_repl_stretches_the_running_watchdog(hw):
    """Ctrl-C (mpremote before copying files): the watchdog cannot be stopped,
    so it is given a long timeout instead of resetting the board mid-copy."""
    b = make(hw)
    b.start_watchdog(2000)
    assert b.hold_watchdog(1800000) == 1800000
    assert hw.wdt.timeout == 1800000
    b.feed_watchdog()
    assert hw.wdt.fed == 1


def test_holding_never_starts_a_watchdog(hw):
    b = make(hw)
    assert b.hold_watchdog(1800000) is None
    assert hw.wdt is None
