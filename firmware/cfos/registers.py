"""The cFos Power Brain's Modbus registers, served from the charger interface.

    box = Registers(manager, steer, 0, "fcf5-c46d-310c", "0.1.0")  # the wallbox
    box.read(8092, 1)             # [2]: charging (state C)
    box.write(8093, [100], now)   # 10.0 A from the manager (cfos.steer)
    box.read(8093, 3)             # ModbusError(2): 8095 is not served
    Registers(manager, None, 1, serial, version).read(8062, 2)   # meter 1's power, W

Holding registers, 16-bit words, multi-register values high word first, as
cFos publishes them for the Power Brain (docs/cfos.md has the table, with
what is served and what refused). Device 0 is the charger itself (Modbus
unit 1, HTTP ``device=evse``); 1 and 2 our energy meters, as the Power
Brain's S0 meters look (HTTP ``device=meter1|meter2``, read only).

Every read is of the charger as it is now; only the current limit (8093),
enable (8094) and relay select (8087, the phases in force only) may be
written. A request is checked whole before anything changes: an address no
register covers is exception 2 (illegal data address), a value out of range, or
a count outside 1..125, exception 3 (illegal data value).

The tables are bytes literals, which stay in flash with the bytecode: as
tuples they would cost a board 2 KB of heap.
"""

from cfos import measure
from charger.limits import CFOS, RATING
from evse import states as S
from evse.compat import const

ILLEGAL_FUNCTION = const(1)
_ILLEGAL_ADDRESS = const(2)
ILLEGAL_VALUE = const(3)
MAX_READ = const(125)  # registers one FC 3 request may read (the Modbus limit)
_BASE = const(8000)

# Types: how many registers and how HTTP shows them (SUFFIX).
_U16 = const(0)  # one register, 0..65535
S32 = const(1)  # two registers, signed
S64 = const(2)  # four registers, signed
STR = const(3)  # ASCII, two characters a register, high byte first, NUL-padded
SUFFIX = "-dqs"  # U16 has none
SIZE = b"\x01\x02\x04\x00"

_VENDOR_ID = const(0xCF05)  # the Power Brain's: what a manager recognises one by
_MAPPING_VERSION = const(0x0100)  # 1.0
_MAX_LIMIT = const(800)  # 8093's highest value: 80.0 A, ChargeCurrent's highest

# Three bytes a register: address - 8000, registers, type.
WALLBOX = (
    b"\x00\x02\x01"  # 8000 vendor id (high word)
    b"\x02\x01\x00"  # 8002 product id
    b"\x03\x01\x00"  # 8003 device id: 0x100 wallbox, 0x101.. meters
    b"\x04\x01\x00"  # 8004 product version, major << 8 | minor
    b"\x05\x01\x00"  # 8005 product build
    b"\x06\x01\x00"  # 8006 register mapping version
    b"\x07\x01\x00"  # 8007 padding
    b"\x08\x08\x03"  # 8008 serial number
    b"\x10\x10\x03"  # 8016 name
    b"\x28\x01\x00"  # 8040 Modbus slave id
    b"\x39\x01\x00"  # 8057 meter flags
    b"\x3a\x04\x02"  # 8058 energy, Wh
    b"\x3e\x02\x01"  # 8062 power, W
    b"\x40\x02\x01"  # 8064 current L1, 0.1 A
    b"\x42\x02\x01"  # 8066 L2
    b"\x44\x02\x01"  # 8068 L3
    b"\x56\x01\x00"  # 8086 disconnect CP (reads 0; refused)
    b"\x57\x01\x00"  # 8087 relay select: 0 three phases, 1 one phase
    b"\x5c\x01\x00"  # 8092 status
    b"\x5d\x01\x00"  # 8093 current limit, 0.1 A
    b"\x5e\x01\x00"  # 8094 charging enable
    b"\x60\x10\x03"  # 8096 last RFID
    b"\x70\x01\x00"  # 8112 meter present
    b"\x71\x01\x00"  # 8113 solar and phase switching flags
)
METER = (
    b"\x00\x02\x01\x02\x01\x00\x03\x01\x00\x04\x01\x00\x05\x01\x00"  # 8000-8007 as the wallbox's
    b"\x06\x01\x00\x07\x01\x00\x08\x08\x03\x10\x10\x03\x28\x01\x00"  # .. 8008, 8016, 8040
    b"\x2d\x01\x00"  # 8045 voltage L1, V
    b"\x2e\x01\x00"  # 8046 L2
    b"\x2f\x01\x00"  # 8047 L3
    b"\x3a\x04\x02\x3e\x02\x01\x40\x02\x01\x42\x02\x01\x44\x02\x01"  # 8058-8068 as the wallbox's
)

# 8092 by the kernel's EvseState (evse.states, 0..11): 0 waiting (A), 1
# vehicle (B), 2 charging (C), 3 ventilated (D), 4 error (5: overtemperature).
_STATUS = b"\x00\x00\x04\x04\x01\x02\x03\x04\x04\x04\x04\x04"
_STATUS_OVERTEMP = const(5)


class ModbusError(Exception):
    """A refusal, with its Modbus exception code (``code``)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def entries(table):
    """(address, registers, type) of each register of ``table``."""
    for i in range(0, len(table), 3):
        yield _BASE + table[i], table[i + 1], table[i + 2]


def suffix(kind):
    return SUFFIX[kind] if kind else ""


def version_words(version):
    """"major.minor.build" → (major << 8 | minor, build)."""
    parts = (version.split(".") + ["0", "0"])[:3]
    nums = [int(p) if p.isdigit() else 0 for p in parts]
    return (nums[0] & 0xFF) << 8 | nums[1] & 0xFF, nums[2] & 0xFFFF


def encode(value, size, kind):
    """The registers of ``value`` (an int, or a str for STR)."""
    if kind == STR:
        data = value.encode()[: 2 * size]
        data += b"\0" * (2 * size - len(data))
        return [data[2 * i] << 8 | data[2 * i + 1] for i in range(size)]
    return [(value >> (16 * (size - 1 - i))) & 0xFFFF for i in range(size)]


def decode(words, kind):
    """A value of ``kind`` from its registers (the HTTP mapping's view)."""
    if kind == STR:
        out = []
        for w in words:
            for c in (w >> 8, w & 0xFF):
                if not c:
                    return "".join(out)
                out.append(chr(c))
        return "".join(out)
    if kind == _U16:
        return words[0]
    value = 0
    for w in words:
        value = value << 16 | w
    bits = 16 * len(words)
    return value - (1 << bits) if value >> (bits - 1) else value


def _deciamps(amps):
    return int(amps * 10 + 0.5) if amps > 0 else 0


def _whole(x):
    """``x`` rounded to a whole number, halves away from zero."""
    return int(x + 0.5) if x >= 0 else -int(0.5 - x)


class Registers:
    """Device ``n``'s register map: 0 the wallbox (steered through
    ``steer``, a cfos.steer.Steer), 1 and 2 the meters (read only)."""

    def __init__(self, manager, steer, n, serial, version):
        self.m = manager
        self.steer = steer
        self.n = n
        self.table = METER if n else WALLBOX
        self.serial = serial
        self.version = version_words(version)

    def find(self, addr):
        """(address, registers, type) of the register at ``addr``, or None."""
        t = self.table
        for i in range(0, len(t), 3):
            if _BASE + t[i] == addr:
                return addr, t[i + 1], t[i + 2]
        return None

    def read(self, start, count):
        """FC 3: registers ``start`` .. ``start + count - 1``, as ints.
        Any of them that no register covers: ModbusError(2)."""
        if not 1 <= count <= MAX_READ:
            raise ModbusError(ILLEGAL_VALUE)
        if self.steer:
            # A manager silent past its timeout has no word in force, whether
            # or not the once-a-second watch (cfos.service) has seen it yet.
            self.steer.expire(self.m.clock.ticks())
        end = start + count
        out = [0] * count
        covered = 0
        t = self.table
        for i in range(0, len(t), 3):
            addr = _BASE + t[i]
            size = t[i + 1]
            if addr + size <= start or addr >= end:
                continue
            words = encode(self.value(addr), size, t[i + 2])
            for j in range(size):
                if start <= addr + j < end:
                    out[addr + j - start] = words[j]
                    covered += 1
        if covered != count:
            raise ModbusError(_ILLEGAL_ADDRESS)
        return out

    def write(self, start, words, now):
        """FC 6/16: every word checked, then all applied, or ModbusError and
        nothing changed."""
        for i in range(len(words)):
            self.check(start + i, words[i])
        # The enable first: the one command the interface could still refuse
        # (its table of sources full), before anything else has changed.
        if start <= 8094 < start + len(words):
            if self.steer.enable(words[8094 - start] == 1, now) is not True:
                raise ModbusError(ILLEGAL_VALUE)
        if start <= 8093 < start + len(words):
            self.steer.limit(words[8093 - start], now)  # checked: cannot be refused
        # 8087: as it is.

    def check(self, addr, word):
        if self.n or addr not in (8087, 8093, 8094):
            raise ModbusError(_ILLEGAL_ADDRESS)  # read only, or not served
        if addr == 8093:
            ok = word <= _MAX_LIMIT
        elif addr == 8094:
            ok = word <= 1
        else:  # 8087: no second relay, only the phases in force
            ok = word == self.value(8087)
        if not ok:
            raise ModbusError(ILLEGAL_VALUE)

    def value(self, addr):
        """The value of the register at ``addr`` now."""
        m = self.m
        if addr == 8000:
            return _VENDOR_ID << 16
        if addr == 8002:
            return 1
        if addr == 8003:
            return 0x100 + self.n
        if addr == 8004 or addr == 8005:
            return self.version[addr - 8004]
        if addr == 8006:
            return _MAPPING_VERSION
        if addr == 8008:
            return self.serial
        if addr == 8016:
            name = m.settings()["DeviceName"]
            return "%s meter %d" % (name, self.n) if self.n else name
        if addr == 8040:
            return 1 + self.n
        if self.n:
            return self._meter(addr)
        if addr == 8092:
            s = m.state
            status = _STATUS[s] if 0 <= s < len(_STATUS) else 4
            return _STATUS_OVERTEMP if status == 4 and m.cause == S.CAUSE_OVERTEMP else status
        if addr == 8093:
            if self.steer.deciamps >= 0:
                return self.steer.deciamps
            a = m.limits.get(CFOS)  # the fallback, after the manager fell silent
            return 10 * (a if a >= 0 else m.limits.get(RATING))
        if addr == 8094:
            return 1 if m.enabled else 0
        if addr == 8087:
            return 0 if m.three_phase else 1
        if addr == 8096:
            return (m.id_tag or "")[:32]
        if addr == 8062:
            return m.power_w if m.power_w > 0 else 0
        if 8064 <= addr <= 8068:
            return _deciamps(measure.phase_currents(m)[(addr - 8064) // 2])
        if addr == 8058:
            return measure.energy_wh(m) or 0
        reading = m.meter_reading(1)
        if addr == 8112:
            return 1 if reading else 0
        if addr == 8057:  # the meter reads the phase currents
            return 1 if reading and reading[2] else 0
        return 0  # 8007, 8086, 8113: padding, no CP disconnect, no phase switching, no solar

    def _meter(self, addr):
        """Meter n's registers: every value 0 while the meter has none."""
        reading = self.m.meter_reading(self.n)
        if not reading:
            return 0
        kwh, watts, currents, volts = reading
        if addr == 8058:
            return int(kwh * 1000 + 0.5) if kwh else 0
        if addr == 8062:
            return _whole(watts) if watts else 0  # negative: exported
        if 8045 <= addr <= 8047:
            return _whole(volts[addr - 8045]) if volts and addr - 8045 < len(volts) else 0
        if 8064 <= addr <= 8068:
            phase = (addr - 8064) // 2
            return _deciamps(currents[phase]) if currents and phase < len(currents) else 0
        return 0  # 8007
