"""EvseState numbering of the WebAPI (``cpEvseStateEnum_t``) and CP levels."""

from evse.compat import const

# EvseState, numbered exactly as the original controller's WebAPI.
WAITING = const(0)
IDLE_A = const(1)
RELAY_ERR_F = const(2)
EPO_F = const(3)
CONNECTED_B = const(4)
CHARGE_C = const(5)
VENT_D = const(6)
DIODE_ERR = const(7)
EV_ERR_E = const(8)
GENERAL_ERR = const(9)
PP_ERR_F = const(10)
LOCK_ERR_F = const(11)

NAMES = (
    "EVSE_WAITING",
    "EVSE_IDLE_A1_A2",
    "EVSE_RELAY_ERR_F",
    "EVSE_EPO_F",
    "EVSE_EV_CONNECTED_B1_B2",
    "EVSE_EV_CHARGE_C1_C2",
    "EVSE_EV_VENT_D1_D2",
    "EVSE_EV_DIODE_ERR",
    "EVSE_EV_ERR_E",
    "EVSE_EV_GENERAL_ERR",
    "EVSE_PP_ERR_F",
    "EVSE_LOCK_ERR_F",
)

FAULT_STATES = (RELAY_ERR_F, EPO_F, DIODE_ERR, EV_ERR_E, GENERAL_ERR, PP_ERR_F, LOCK_ERR_F)

# Control Pilot levels as classified from the high (positive) PWM level.
CP_UNKNOWN = const(0)
CP_A = const(1)  # +12 V: no vehicle
CP_B = const(2)  # +9 V: vehicle connected
CP_C = const(3)  # +6 V: charging requested
CP_D = const(4)  # +3 V: charging with ventilation requested
CP_E = const(5)  # 0 V: CP shorted to PE / EVSE or vehicle error
CP_F = const(6)  # -12 V: EVSE not available (only seen while we drive F)

CP_LETTERS = "?ABCDEF"

# Why a general error was raised (GeneralInfo tells the user).
CAUSE_NONE = const(0)
CAUSE_RCM = const(1)
CAUSE_RCM_SELFTEST = const(2)
CAUSE_OVERTEMP = const(3)
CAUSE_OVERCURRENT = const(4)
CAUSE_CP_INVALID = const(5)
CAUSE_TEMP_SENSOR = const(6)
CAUSE_CYCLING = const(7)

CAUSES = (
    "no faults",
    "residual current detected",
    "residual current monitor failed its self-test",
    "over-temperature",
    "vehicle draws more than offered",
    "control pilot out of range",
    "temperature sensor open or shorted",
    "contactor switched too often",
)
