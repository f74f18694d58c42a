"""The cFos Power Brain's Modbus registers, served from the charger interface.

    regs = Wallbox(manager, steer, "fcf5-c46d-310c", "0.1.0")   # serial, version
    regs.read(8092, 1)            # [2]: charging (state C)
    regs.write(8093, [100], now)  # 10.0 A from the manager (cfos.steer)
    regs.read(8093, 3)            # ModbusError(2): 8095 is not served
    Meter(manager, 1, serial, version).read(8062, 2)   # meter 1's power, W, as two words

Holding registers, 16-bit words, multi-register values high word first, as
cFos publishes them for the Power Brain (docs/cfos.md has the table, with
what is served and what refused). ``Wallbox`` is the charger itself (Modbus
unit 1, HTTP ``device=evse``); ``Meter`` one of our energy meters, as the
Power Brain's S0 meters look (HTTP ``device=meter1|meter2``, read only).

Every read is of the charger as it is now; only the current limit (8093),
enable (8094) and relay select (8087, the phases in force only) may be
written. A request is checked whole before anything changes: an address no
register covers is exception 2 (ILLEGAL_ADDRESS), a value out of range, or
a count outside 1..125, exception 3 (ILLEGAL_VALUE).
"""

from cfos import measure
from charger.limits import CFOS, RATING
from evse import states as S
from evse.compat import const

ILLEGAL_FUNCTION = const(1)
ILLEGAL_ADDRESS = const(2)
ILLEGAL_VALUE = const(3)
MAX_READ = const(125)  # registers one FC 3 request may read (the Modbus limit)

# Types: how many registers and how HTTP shows them (SUFFIX).
U16 = const(0)  # one register, 0..65535
S32 = const(1)  # two registers, signed
S64 = const(2)  # four registers, signed
STR = const(3)  # ASCII, two characters a register, high byte first, NUL-padded
SUFFIX = ("", "d", "q", "s")
SIZE = (1, 2, 4, 0)

VENDOR_ID = const(0xCF05)  # the Power Brain's: what a manager recognises one by
MAPPING_VERSION = const(0x0100)  # 1.0

# (address, registers, type). Identification, common to the wallbox and the meters.
_IDENTITY = (
    (8000, 2, S32),  # vendor id (high word)
    (8002, 1, U16),  # product id
    (8003, 1, U16),  # device id: 0x100 wallbox, 0x101.. meters
    (8004, 1, U16),  # product version, major << 8 | minor
    (8005, 1, U16),  # product build
    (8006, 1, U16),  # register mapping version
    (8007, 1, U16),  # padding
    (8008, 8, STR),  # serial number
    (8016, 16, STR),  # name
    (8040, 1, U16),  # Modbus slave id
)
_MEASURED = (
    (8058, 4, S64),  # energy, Wh
    (8062, 2, S32),  # power, W
    (8064, 2, S32),  # current L1, 0.1 A
    (8066, 2, S32),  # L2
    (8068, 2, S32),  # L3
)
WALLBOX = _IDENTITY + ((8057, 1, U16),) + _MEASURED + (
    (8086, 1, U16),  # disconnect CP (reads 0; refused)
    (8087, 1, U16),  # relay select: 0 three phases, 1 one phase
    (8092, 1, U16),  # status
    (8093, 1, U16),  # current limit, 0.1 A
    (8094, 1, U16),  # charging enable
    (8096, 16, STR),  # last RFID
    (8112, 1, U16),  # meter present
    (8113, 1, U16),  # solar and phase switching flags
)
METER = _IDENTITY + (
    (8045, 1, U16),  # voltage L1, V
    (8046, 1, U16),
    (8047, 1, U16),
) + _MEASURED

MAX_LIMIT = const(800)  # 8093's highest value: 80.0 A, ChargeCurrent's highest

# 8092, from the kernel's EvseState (evse.states).
_STATUS = {S.WAITING: 0, S.IDLE_A: 0, S.CONNECTED_B: 1, S.CHARGE_C: 2, S.VENT_D: 3}
STATUS_ERROR = const(4)
STATUS_OVERTEMP = const(5)


class ModbusError(Exception):
    """A refusal, with its Modbus exception code (``code``)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


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
    if kind == U16:
        return words[0]
    value = 0
    for w in words:
        value = value << 16 | w
    bits = 16 * len(words)
    return value - (1 << bits) if value >> (bits - 1) else value


class Registers:
    """A register map (``table``) read from the charger interface."""

    table = ()
    device_id = 0

    def __init__(self, manager, serial, version):
        self.m = manager
        self.serial = serial
        self.version = version_words(version)

    def find(self, addr):
        """The (address, registers, type) that starts at ``addr``, or None."""
        for entry in self.table:
            if entry[0] == addr:
                return entry
        return None

    def read(self, start, count):
        """FC 3: registers ``start`` .. ``start + count - 1``, as ints.
        Any of them that no register covers: ModbusError(2)."""
        if not 1 <= count <= MAX_READ:
            raise ModbusError(ILLEGAL_VALUE)
        end = start + count
        out = [0] * count
        covered = 0
        for addr, size, kind in self.table:
            if addr + size <= start or addr >= end:
                continue
            words = encode(self.value(addr), size, kind)
            for i in range(size):
                if start <= addr + i < end:
                    out[addr + i - start] = words[i]
                    covered += 1
        if covered != count:
            raise ModbusError(ILLEGAL_ADDRESS)
        return out

    def write(self, start, words, now):
        """FC 6/16: every word checked, then all applied, or ModbusError and
        nothing changed."""
        for i in range(len(words)):
            self.check(start + i, words[i])
        for i in range(len(words)):
            self.apply(start + i, words[i], now)

    def check(self, addr, word):
        raise ModbusError(ILLEGAL_ADDRESS)  # read only

    def apply(self, addr, word, now):
        pass

    def value(self, addr):
        """The value of the register at ``addr`` now (identification here)."""
        if addr == 8000:
            return VENDOR_ID << 16
        if addr == 8002:
            return 1
        if addr == 8003:
            return self.device_id
        if addr == 8004 or addr == 8005:
            return self.version[addr - 8004]
        if addr == 8006:
            return MAPPING_VERSION
        if addr == 8008:
            return self.serial
        if addr == 8016:
            return self.name()
        if addr == 8040:
            return self.unit
        return self.measured(addr)

    def measured(self, addr):
        return 0

    def name(self):
        return self.m.settings()["DeviceName"]

    unit = 1


def _deciamps(amps):
    return int(amps * 10 + 0.5) if amps > 0 else 0


def _whole(x):
    """``x`` rounded to a whole number, halves away from zero."""
    return int(x + 0.5) if x >= 0 else -int(0.5 - x)


class Wallbox(Registers):
    """The charger as a Power Brain wallbox (Modbus unit 1, ``device=evse``)."""

    table = WALLBOX
    device_id = 0x100

    def __init__(self, manager, steer, serial, version):
        super().__init__(manager, serial, version)
        self.steer = steer

    def read(self, start, count):
        # A manager silent past its timeout has no word in force, whether
        # or not the once-a-second watch (cfos.service) has seen it yet.
        self.steer.expire(self.m.clock.ticks())
        return super().read(start, count)

    def check(self, addr, word):
        if addr == 8093:
            ok = word <= MAX_LIMIT
        elif addr == 8094:
            ok = word <= 1
        elif addr == 8087:  # no second relay: only the phases in force
            ok = word == self.value(8087)
        else:
            raise ModbusError(ILLEGAL_ADDRESS)
        if not ok:
            raise ModbusError(ILLEGAL_VALUE)

    def apply(self, addr, word, now):
        if addr == 8093:
            done = self.steer.limit(word, now)
        elif addr == 8094:
            done = self.steer.enable(word == 1, now)
        else:
            done = True  # 8087: as it is
        if done is not True:  # checked above: the interface refusing is a bug here
            raise ModbusError(ILLEGAL_VALUE)

    def measured(self, addr):
        m = self.m
        if addr == 8092:
            return self.status()
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
        return 0  # 8086, 8113: no CP disconnect, no phase switching, no solar

    def status(self):
        m = self.m
        s = m.state
        if s in _STATUS:
            return _STATUS[s]
        return STATUS_OVERTEMP if m.cause == S.CAUSE_OVERTEMP else STATUS_ERROR


class Meter(Registers):
    """Meter ``n`` (1: the charger's, 2: the site's) as a Power Brain S0
    meter: read only, every value 0 while the meter has none."""

    table = METER

    def __init__(self, manager, n, serial, version):
        super().__init__(manager, serial, version)
        self.n = n
        self.device_id = 0x100 + n
        self.unit = 1 + n

    def name(self):
        return "%s meter %d" % (self.m.settings()["DeviceName"], self.n)

    def measured(self, addr):
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
        phase = (addr - 8064) // 2
        return _deciamps(currents[phase]) if currents and phase < len(currents) else 0
