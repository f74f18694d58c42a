"""Board description files (``boards/<name>.json``, ``board.json`` on the device).

A board file says which adapter drives it (``"hal": "esp32"`` or ``"sim"``),
its pins, the CP/PP conditioning calibration, which sensors exist and the
charger's rating. Sections a board lacks are left out: no ``"rcm"`` means no
residual-current monitor, a ``"relay"`` without ``"feedback_pin"`` means the
contactor is not read back, and so on.

    cp           pwm_pin, adc_pin, pwm_hz, adc_at_p12_mv, adc_at_m12_mv
                 (ADC millivolts seen at CP +12 V and -12 V)
    pp           adc_pin, pullup_ohm, vref_mv
    relay        pin, feedback_pin, feedback_active_low, settle_ms
    lock         type ("solenoid" | "servo"), lock_pin, unlock_pin (solenoid) or
                 servo_pin (servo), feedback_pin, feedback_active_low
    rs485        uart, tx_pin, rx_pin, de_pin
    epo          pin, active_low, pull ("up" | "down": the board's resistor)
    rcm          trip_pin, test_pin, trip_active_low, pull, test_ms (how long the
                 test current flows before the trip must show; default 60)
    temperature  adc_pin, ntc_beta, ntc_r25_ohm, series_ohm, derate_c, stop_c
    leds         status, error
    max_current_a, nominal_voltage, product_type, current_sense
"""

import json

from evse.kernel import Params

REQUIRED = ("name", "hal", "cp", "relay", "max_current_a")


class BoardError(Exception):
    pass


def load(path):
    """Read and check a board file; a broken board file stops the boot loudly."""
    try:
        with open(path) as f:
            board = json.load(f)
    except (OSError, ValueError) as e:
        raise BoardError("board file %s unreadable: %s" % (path, e))
    for key in REQUIRED:
        if key not in board:
            raise BoardError("board file %s lacks %r" % (path, key))
    for key in ("adc_at_p12_mv", "adc_at_m12_mv"):
        if key not in board["cp"]:
            raise BoardError("board file %s: cp lacks %r" % (path, key))
    for section, low_key in (("epo", "active_low"), ("rcm", "trip_active_low")):
        if section in board and not fails_safe(board[section], low_key):
            raise BoardError("board file %s: %s reads a broken wire as not tripped" % (path, section))
    return board


def fails_safe(section, low_key):
    """A stop input (EPO, RCM trip) fails safe when a broken wire, which
    leaves the pin to the board's pull resistor, reads as active."""
    pull = section.get("pull")
    return pull == ("down" if section.get(low_key, False) else "up")



def identity(board):
    """What the firmware keeps of its board file once the adapters and the
    kernel have taken their settings: the file parsed is some 3 KB of heap."""
    return {"name": board["name"], "hal": board["hal"], "product_type": board.get("product_type", "01100200")}


def params(board):
    """The kernel's Params for a board."""
    p = Params()
    cp = board["cp"]
    p.cp_adc_at_p12_mv = cp["adc_at_p12_mv"]
    p.cp_adc_at_m12_mv = cp["adc_at_m12_mv"]
    pp = board.get("pp")
    if pp:
        p.pp_pullup_ohm = pp["pullup_ohm"]
        p.pp_vref_mv = pp["vref_mv"]
    relay = board["relay"]
    p.relay_feedback = "feedback_pin" in relay
    p.relay_settle_ms = relay.get("settle_ms", 200)
    # The lock actuator the board has decides LockMethod (lock.SERVO 1, SOLENOID 0).
    p.lock_method = 1 if board.get("lock", {}).get("type") == "servo" else 0
    p.lock_feedback = "feedback_pin" in board.get("lock", {})
    p.rcm_present = "rcm" in board
    if p.rcm_present:
        p.rcm_test_ms = board["rcm"].get("test_ms", p.rcm_test_ms)
    temp = board.get("temperature")
    p.temp_present = temp is not None
    if temp:
        p.temp_derate_c10 = int(temp.get("derate_c", 60) * 10)
        p.temp_stop_c10 = int(temp.get("stop_c", 80) * 10)
    p.max_current_a = board["max_current_a"]
    p.nominal_voltage = board.get("nominal_voltage", 230)
    return p
