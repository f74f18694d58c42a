"""The meter models, as data: which input registers each one is read for.

Every value is an IEEE-754 float32 in two input registers, high word first,
read with function code 0x04. A register is named by its address and the
``Desc`` the WebAPI shows for it (the meter maker's wording, as in the
original controller's example).

``Meter1Type``/``Meter2Type`` 1..3 are these models on the RS485 bus, 4..6 the
same models behind a Modbus gateway at ``Meter1Ip``/``Meter2Ip``.

The firmware and the host's meter simulator both read this module, so the
simulated meters hold exactly the registers the firmware asks for.
"""

from evse.compat import const

# What a value means to the charger (beyond showing it).
VOLTAGE = const(1)  # per phase, V
CURRENT = const(2)  # per phase, A
POWER = const(3)  # per phase, W
TOTAL_POWER = const(4)  # W, import positive
IMPORT = const(5)  # kWh, total import
EXPORT = const(6)  # kWh, total export
TOTAL = const(7)  # kWh, import + export
RESET_TOTAL = const(8)  # kWh since the last reset of the resettable counters
RESET_IMPORT = const(9)
RESET_EXPORT = const(10)
IMPORT_POWER = const(11)  # W
EXPORT_POWER = const(12)  # W

# The nine registers of the WebAPI example (the SDM72D-M's first version).
_SDM72D_V1 = (
    (0x0034, "TotalSystemPower[W]", TOTAL_POWER),
    (0x0048, "TotalImport[kWh]", IMPORT),
    (0x004A, "TotalExport[kWh]", EXPORT),
    (0x0156, "Total[kWh]", TOTAL),
    (0x0180, "ResettableTotalActiveEnergy[kWh]", RESET_TOTAL),
    (0x0184, "ResettableImportActiveEnergy[kWh]", RESET_IMPORT),
    (0x0186, "ResettableExportActiveEnergy[kWh]", RESET_EXPORT),
    (0x0500, "TotalImportActivePower[W]", IMPORT_POWER),
    (0x0502, "TotalExportActivePower[W]", EXPORT_POWER),
)

# Eastron's per-phase block (SDM72D-M v2, SDM630, and meters that copy its map).
_PER_PHASE = (
    (0x0000, "Phase1Voltage[V]", VOLTAGE),
    (0x0002, "Phase2Voltage[V]", VOLTAGE),
    (0x0004, "Phase3Voltage[V]", VOLTAGE),
    (0x0006, "Phase1Current[A]", CURRENT),
    (0x0008, "Phase2Current[A]", CURRENT),
    (0x000A, "Phase3Current[A]", CURRENT),
    (0x000C, "Phase1Power[W]", POWER),
    (0x000E, "Phase2Power[W]", POWER),
    (0x0010, "Phase3Power[W]", POWER),
)


class Model:
    """One meter model: its registers and bus timing.

    ``registers``: ((address, Desc, meaning), ...) sorted by address.
    ``kept``: meanings the meter itself lacks that the firmware keeps for it
    (resettable energies from a persisted baseline), shown under the
    SDM72D-M's addresses so clients find them where they expect them.
    ``gap_ms``: the silence the meter needs between the end of its answer and
    the next request, beyond Modbus's 3.5 characters.
    ``confirmed``: addresses checked against the maker's documentation (see shown).
    """

    def __init__(self, name, phases, registers, gap_ms, confirmed, kept=()):
        self.name = name
        self.phases = phases
        self.registers = registers
        self.gap_ms = gap_ms
        self.confirmed = confirmed
        self.kept = kept

    def shown(self, address, desc):
        """The Desc the WebAPI shows for a register: the maker's wording,
        with " (unconfirmed)" while ``address`` is not checked against the
        maker's documentation (a string made per answer, not kept)."""
        return desc if address in self.confirmed else desc + " (unconfirmed)"


SDM72D_M = Model("SDM72D-M", 3, _SDM72D_V1, 20, tuple(r[0] for r in _SDM72D_V1))

# The second version adds per-phase voltage, current and power (same addresses
# as Eastron's SDM630); selected with Meter<n>PerPhase.
SDM72D_M_V2 = Model("SDM72D-M v2", 3, _PER_PHASE + _SDM72D_V1, 20, tuple(r[0] for r in _PER_PHASE + _SDM72D_V1))

# Lumel NMID30-2. Lumel's "NMID30-2 User's manual - MODBUS" numbers its input
# registers the way Eastron does (30001 phase 1 L/N volts, 30225 neutral
# current, 30235 phase 1 L/N volts THD, as in Eastron's SDM630 map); only an
# index of that manual could be consulted, which confirms the first address.
# The others follow Eastron's map and are marked "(unconfirmed)" in the Desc
# the WebAPI shows (Model.shown), until someone checks them against the full table.
# Lumel asks for at least 60 ms of bus silence before each request.
#
# The models share their registers' tuples where the maps agree: each tuple
# and each Desc is an object on the heap from the moment this module loads.
NMID30_2 = Model("NMID30-2", 3, _PER_PHASE + _SDM72D_V1[:4], 60, (0x0000,))

# Eastron SDM120M, single phase: its total power is its only phase's power.
# It has no resettable energy registers; the firmware keeps them.
SDM120M = Model(
    "SDM120M",
    1,
    (
        (0x0000, "Voltage[V]", VOLTAGE),
        (0x0006, "Current[A]", CURRENT),
        (0x000C, "TotalSystemPower[W]", TOTAL_POWER),
    )
    + _SDM72D_V1[1:4],
    20,
    (0x0000, 0x0006, 0x000C, 0x0048, 0x004A, 0x0156),
    kept=_SDM72D_V1[4:7],
)

ALL = (SDM72D_M, SDM72D_M_V2, NMID30_2, SDM120M)

# MeterNType → (model, on the IP gateway). 7 (remote control) is not a meter.
_BY_TYPE = (None, SDM72D_M, NMID30_2, SDM120M)


def for_type(meter_type, per_phase=False):
    """The model for a ``Meter1Type``/``Meter2Type`` value, or None (0, 7)."""
    if not 1 <= meter_type <= 6:
        return None
    model = _BY_TYPE[(meter_type - 1) % 3 + 1]
    if model is SDM72D_M and per_phase:
        return SDM72D_M_V2
    return model


def is_ip(meter_type):
    return 4 <= meter_type <= 6


def by_name(name):
    for m in ALL:
        if m.name.lower() == name.lower():
            return m
    raise ValueError("unknown meter model %r (known: %s)" % (name, ", ".join(m.name for m in ALL)))


# Reading several registers in one request saves the request's own bytes and
# two inter-frame silences; reading a gap costs 2 bytes per skipped register.
# Below this many skipped registers, one request is cheaper than two.
_MERGE_GAP = const(10)
MAX_BLOCK = const(40)  # registers per request


def blocks(model, through_gaps=True):
    """The requests that read ``model``: ((first address, count), ...).

    Contiguous registers go in one request of at most MAX_BLOCK registers;
    small gaps are read through when that is cheaper than a new request,
    unless ``through_gaps`` is False (a meter that refuses to answer for
    registers its maker does not document).
    """
    out = []
    start = end = -1
    gap = _MERGE_GAP if through_gaps else 1
    for addr, _, _ in model.registers:
        if start >= 0 and addr - end < gap and addr + 2 - start <= MAX_BLOCK:
            end = addr + 2
            continue
        if start >= 0:
            out.append((start, end - start))
        start, end = addr, addr + 2
    if start >= 0:
        out.append((start, end - start))
    return tuple(out)
