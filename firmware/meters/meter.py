"""One energy meter: polls its model's registers over a link and keeps, per
register, the last value, when it was read and how many reads failed.

Times are the runtime clock's milliseconds since start (``uptime_ms``), so
they are virtual in the simulator's virtual time, like everything else.
"""

from array import array

from evse.compat import const
from meters import models
from meters.modbus import ModbusError, float32

_ILLEGAL_ADDRESS = const(2)  # Modbus exception code


def _plan(model, through_gaps):
    """Each request, with the registers it fills: (start, count, first, end),
    registers[first:end] of the model. They are sorted by address, so a
    request fills a run of them: four ints a request, where a pair per
    register would hold a tuple each on the heap."""
    regs = model.registers
    plan = []
    first = 0
    for start, count in models.blocks(model, through_gaps):
        end = first
        while end < len(regs) and regs[end][0] < start + count:
            end += 1
        plan.append((start, count, first, end))
        first = end
    return tuple(plan)


class Meter:
    def __init__(self, model, link, unit, stale_ms):
        self.model = model
        self.link = link
        self.unit = unit
        self.stale_ms = stale_ms
        n = len(model.registers)
        # float32, as the meter sends them: 4 bytes each in place, where a
        # list would hold a 16-byte float object per register (32-bit), a new
        # one at every read.
        self.values = array("f", bytes(4 * n))
        self.stamps = [-1] * n  # uptime ms of the last good read; -1 never
        self.errs = [0] * n
        self.errors = 0  # failed requests since boot: Meter<n>Status
        self.last_error = ""
        # Requests read through small gaps between documented registers until
        # the meter refuses one (exception 0x02, illegal data address); from
        # then on, for this meter, only documented registers are asked for.
        self.through_gaps = True
        self._plan = _plan(model, True)

    async def poll(self, clock):
        """Read every register once. Failures are counted, never raised."""
        for start, count, first, end in self._plan:
            await self._read(clock, start, count, first, end)

    async def _read(self, clock, start, count, first, end):
        try:
            data = await self.link.read(self.unit, start, count)
        except ModbusError as e:
            if e.code == _ILLEGAL_ADDRESS and self.through_gaps and count > 2 * (end - first):
                # Not a failure of the meter: the request asked for more than it documents.
                self.through_gaps = False
                self._plan = _plan(self.model, False)
                for block in self._plan:
                    if start <= block[0] < start + count:
                        await self._read(clock, *block)
                return
            self.errors += 1
            self.last_error = str(e)
            for i in range(first, end):
                self.errs[i] += 1
            return
        now = clock.uptime_ms()
        regs = self.model.registers
        for i in range(first, end):
            self.values[i] = float32(data, regs[i][0] - start)
            self.stamps[i] = now

    def fresh(self, i, now):
        t = self.stamps[i]
        return t >= 0 and now - t <= self.stale_ms

    def index(self, meaning):
        """The first register with this meaning, or -1."""
        for i, r in enumerate(self.model.registers):
            if r[2] == meaning:
                return i
        return -1

    def value(self, meaning, now):
        """The fresh value with this meaning, or None."""
        i = self.index(meaning)
        return self.values[i] if i >= 0 and self.fresh(i, now) else None

    def per_phase(self, meaning, now):
        """Fresh per-phase values with this meaning, in phase order, or None."""
        out = []
        for i, r in enumerate(self.model.registers):
            if r[2] == meaning:
                if not self.fresh(i, now):
                    return None
                out.append(self.values[i])
        return out or None

    def power_w(self, now):
        return self.value(models.TOTAL_POWER, now)
