"""What the charger measures, in the terms both cFos modes report: phase
currents and the energy counter (cfos.registers, cfos.ajax)."""


def phase_currents(m):
    """Amperes on L1, L2, L3: meter 1's when it reads them, else the
    charger's own sensing on the phases in use while the contactor is closed."""
    reading = m.meter_reading(1)
    if reading and reading[2]:
        out = list(reading[2]) + [0.0, 0.0, 0.0]
        return out[:3]
    if not m.charging:
        return [0, 0, 0]
    a = m.current_a if m.current_a > 0 else 0
    return [a, a, a] if m.three_phase else [a, 0, 0]


def energy_wh(m):
    """Meter 1's import counter in Wh, or None without meter 1 (the
    charger's own estimate is per session: no counter a manager could use)."""
    reading = m.meter_reading(1)
    if not reading or reading[0] is None:
        return None
    return int(reading[0] * 1000 + 0.5)
