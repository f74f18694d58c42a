"""Control Pilot: ADC calibration, level classification and PWM duty.

The CP line swings between +12 V and -12 V at 1 kHz. The board samples the
high (positive) and low (negative) halves of the waveform; the high level
tells the vehicle's state, the low level proves the vehicle's diode.
"""

from evse.compat import const
from evse.states import CP_UNKNOWN, CP_A, CP_B, CP_C, CP_D, CP_E, CP_F

# Boundaries between adjacent levels (CP millivolts), halfway between the
# nominal +12/+9/+6/+3/0/-12 V. A level is left only once the voltage is
# HYSTERESIS_MV beyond the boundary, so a level is entered within about
# +-1 V of its nominal value and kept within about +-2 V.
_AB = const(10500)
_BC = const(7500)
_CD = const(4500)
_DE = const(1500)
_EF = const(-6000)
HYSTERESIS_MV = const(500)

# The negative half must reach -12 V while PWM runs: a present diode gives
# about -12 V, a missing or shorted one lets the low level follow the high.
DIODE_OK_BELOW_MV = const(-10500)

# A new level is taken once its samples outnumber the current level's by
# DEBOUNCE_SAMPLES (at the 10 ms control tick: 20 ms after the first one).
DEBOUNCE_SAMPLES = const(3)

MIN_CURRENT_A = const(6)
MAX_CURRENT_A = const(80)
PWM_OFF = const(1000)  # steady +12 V: no offer (states x1)
PWM_F = const(0)  # steady -12 V: state F, EVSE not available


def adc_to_cp_mv(adc_mv, adc_at_p12_mv, adc_at_m12_mv):
    """Map an ADC reading to CP line millivolts by the board's two-point calibration."""
    return -12000 + (adc_mv - adc_at_m12_mv) * 24000 // (adc_at_p12_mv - adc_at_m12_mv)


def cp_mv_to_adc(cp_mv, adc_at_p12_mv, adc_at_m12_mv):
    """The inverse of adc_to_cp_mv (the simulated board uses it to make readings)."""
    return adc_at_m12_mv + (cp_mv + 12000) * (adc_at_p12_mv - adc_at_m12_mv) // 24000


def _lower_bound(level):
    if level == CP_A:
        return _AB
    if level == CP_B:
        return _BC
    if level == CP_C:
        return _CD
    if level == CP_D:
        return _DE
    if level == CP_E:
        return _EF
    return -100000


def _upper_bound(level):
    if level == CP_B:
        return _AB
    if level == CP_C:
        return _BC
    if level == CP_D:
        return _CD
    if level == CP_E:
        return _DE
    if level == CP_F:
        return _EF
    return 100000


def level_of(cp_mv, current=CP_UNKNOWN):
    """Classify a high-level voltage, keeping ``current`` within its hysteresis."""
    if current != CP_UNKNOWN:
        if _lower_bound(current) - HYSTERESIS_MV <= cp_mv < _upper_bound(current) + HYSTERESIS_MV:
            return current
    if cp_mv >= _AB:
        return CP_A
    if cp_mv >= _BC:
        return CP_B
    if cp_mv >= _CD:
        return CP_C
    if cp_mv >= _DE:
        return CP_D
    if cp_mv >= _EF:
        return CP_E
    return CP_F


class PilotClassifier:
    """Debounced CP level, by majority rather than by a run of equal samples.

    Each sample away from the current level counts one up, each sample of
    the current level one down; the level changes when the count reaches
    DEBOUNCE_SAMPLES. So a short glitch changes nothing, and a noisy line in
    which every third sample still reads the old level delays a change a
    little but can never hold the old level (and the contactor) for good.
    A different new level starts the count again.
    """

    def __init__(self):
        self.reset()

    def reset(self):
        """Forget the level, e.g. after the EVSE stops driving state F."""
        self.level = CP_UNKNOWN
        self._candidate = CP_UNKNOWN
        self._lead = 0  # how far the candidate's samples outnumber the level's

    @property
    def settled(self):
        return self._lead == 0

    def update(self, cp_mv):
        seen = level_of(cp_mv, self.level)
        if seen == self.level:
            if self._lead > 0:
                self._lead -= 1
        elif seen != self._candidate or self._lead == 0:
            self._candidate = seen
            self._lead = 1
        else:
            self._lead += 1
            if self._lead >= DEBOUNCE_SAMPLES:
                self.level = seen
                self._lead = 0
        return self.level


def duty_permille(current_a):
    """PWM duty (per mille) that offers ``current_a`` amperes (IEC 61851-1 Table A.8).

    6-51 A: duty % = A / 0.6; 51-80 A: duty % = A / 2.5 + 64; below 6 A nothing
    is offered (steady +12 V); above 80 A the offer is capped at 80 A.
    """
    if current_a < MIN_CURRENT_A:
        return PWM_OFF
    if current_a > MAX_CURRENT_A:
        current_a = MAX_CURRENT_A
    if current_a <= 51:
        # A * 1000 / 60, rounded down: the vehicle never reads more than offered.
        return current_a * 100 // 6
    return current_a * 4 + 640


def current_of_duty(permille):
    """The current (A, rounded down) a vehicle reads from a duty; 0 if none offered."""
    if permille < 100 or permille > 960:
        return 0
    if permille <= 850:
        return permille * 6 // 100
    return (permille - 640) // 4
