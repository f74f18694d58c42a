"""The NMID30-2 on the RS485 bus: the 60 ms of silence its maker asks for
before each request, and its register map marked where it is unconfirmed."""

import asyncio

from meters import models, modbus
from meters.link import RtuLink


class _QuietPort:
    """A bus on which nothing arrives but the answer to each request; records
    how long the link listened for silence before sending."""

    def __init__(self):
        self.windows = []
        self.answer = b""
        self.log = []

    async def send(self, data):
        self.log.append("send")
        unit, count = data[0], data[4] << 8 | data[5]
        body = bytes([unit, 4, 2 * count]) + bytes(2 * count)
        self.answer = body + bytes([modbus.crc16(body) & 0xFF, modbus.crc16(body) >> 8])

    async def recv(self, n, timeout_ms):
        if not self.answer:
            self.log.append("quiet %d" % timeout_ms)
            return b""
        out, self.answer = self.answer[:n], self.answer[n:]
        return out

    def close(self):
        pass


def test_nmid30_2_asks_for_60_ms_of_bus_silence_before_each_request():
    assert models.NMID30_2.gap_ms >= 60
    port = _QuietPort()
    link = RtuLink(port, models.NMID30_2.gap_ms, 300)

    async def two_reads():
        await link.read(1, 0, 2)
        await link.read(1, 0x34, 2)

    asyncio.run(two_reads())
    assert port.log == ["quiet 60", "send", "quiet 60", "send"]


def test_nmid30_2_registers_not_confirmed_say_so_in_their_desc():
    # As the WebAPI shows them (Model.shown); the tables hold the maker's wording.
    nmid = models.NMID30_2
    for addr, desc, _ in nmid.registers:
        assert "unconfirmed" not in desc
        if addr in nmid.confirmed:
            assert nmid.shown(addr, desc) == desc
        else:
            assert nmid.shown(addr, desc) == desc + " (unconfirmed)", desc
    assert nmid.shown(*nmid.registers[0][:2]) == "Phase1Voltage[V]"
    assert nmid.shown(*nmid.registers[1][:2]) == "Phase2Voltage[V] (unconfirmed)"
    # The Eastron meters' maps are their makers' own.
    for m in (models.SDM72D_M, models.SDM72D_M_V2, models.SDM120M):
        assert all("unconfirmed" not in m.shown(r[0], r[1]) for r in m.registers)
