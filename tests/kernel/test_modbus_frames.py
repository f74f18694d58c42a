"""Modbus frames for reading input registers: what goes on the wire, and every
way an answer can be wrong (firmware/meters/modbus.py)."""

import struct

from meters import modbus
from meters.modbus import ModbusError, CRC, EXCEPTION, GARBLED
from meters import models


def _raises(kind, fn, *args):
    try:
        fn(*args)
    except ModbusError as e:
        assert e.kind == kind, (e.kind, kind)
        return e
    raise AssertionError("no ModbusError")


def _rtu_answer(unit, regs_bytes):
    body = bytes([unit, 4, len(regs_bytes)]) + regs_bytes
    return body + struct.pack("<H", modbus.crc16(body))


def test_rtu_request_bytes_and_crc():
    # The classic example: unit 1, read 2 input registers from 0.
    assert modbus.rtu_request(1, 0, 2) == bytes([0x01, 0x04, 0x00, 0x00, 0x00, 0x02, 0x71, 0xCB])


def test_rtu_answer_gives_the_register_bytes_and_float32_high_word_first():
    data = struct.pack(">ff", 475.25, 0.331)
    frame = _rtu_answer(1, data)
    assert modbus.rtu_answer_size(frame[:3]) == len(frame)
    regs = modbus.rtu_check(frame, 1, 4)
    assert modbus.float32(regs, 0) == 475.25
    assert abs(modbus.float32(regs, 2) - 0.331) < 1e-6


def test_rtu_bad_crc_wrong_unit_wrong_length_and_short_frames():
    frame = bytearray(_rtu_answer(1, bytes(4)))
    frame[-1] ^= 0x01
    _raises(CRC, modbus.rtu_check, bytes(frame), 1, 2)
    _raises(GARBLED, modbus.rtu_check, _rtu_answer(2, bytes(4)), 1, 2)  # another unit
    _raises(GARBLED, modbus.rtu_check, _rtu_answer(1, bytes(8)), 1, 2)  # wrong count
    _raises(GARBLED, modbus.rtu_check, b"\x01\x04", 1, 2)


def test_rtu_exception_answer_carries_its_code():
    body = bytes([1, 0x84, 0x02])
    frame = body + struct.pack("<H", modbus.crc16(body))
    assert modbus.rtu_answer_size(frame[:3]) == 5
    e = _raises(EXCEPTION, modbus.rtu_check, frame, 1, 2)
    assert e.code == 2


def test_mbap_request_and_answer():
    assert modbus.mbap_request(7, 1, 0x34, 2) == bytes([0, 7, 0, 0, 0, 6, 1, 4, 0, 0x34, 0, 2])
    pdu = bytes([4, 4]) + struct.pack(">f", 230.5)
    frame = struct.pack(">HHHB", 7, 0, len(pdu) + 1, 1) + pdu
    assert modbus.float32(modbus.mbap_check(frame, 7, 1, 2), 0) == 230.5
    _raises(GARBLED, modbus.mbap_check, frame, 8, 1, 2)  # an older transaction
    exc = struct.pack(">HHHB", 7, 0, 3, 1) + bytes([0x84, 0x04])
    assert _raises(EXCEPTION, modbus.mbap_check, exc, 7, 1, 2).code == 4


def test_every_model_is_read_in_blocks_of_at_most_40_registers_covering_each_register_once():
    for model in models.ALL:
        blocks = models.blocks(model)
        for start, count in blocks:
            assert 2 <= count <= models.MAX_BLOCK
        for addr, desc, meaning in model.registers:
            assert sum(1 for s, c in blocks if s <= addr and addr + 2 <= s + c) == 1, (model.name, addr)
        # Blocks are in address order and never overlap.
        for (s1, c1), (s2, _) in zip(blocks, blocks[1:]):
            assert s1 + c1 <= s2


def test_sdm72d_m_reads_the_nine_registers_of_the_webapi_example_in_five_requests():
    assert [r[1] for r in models.SDM72D_M.registers] == [
        "TotalSystemPower[W]", "TotalImport[kWh]", "TotalExport[kWh]", "Total[kWh]",
        "ResettableTotalActiveEnergy[kWh]", "ResettableImportActiveEnergy[kWh]",
        "ResettableExportActiveEnergy[kWh]", "TotalImportActivePower[W]", "TotalExportActivePower[W]",
    ]
    assert models.blocks(models.SDM72D_M) == ((0x34, 2), (0x48, 4), (0x156, 2), (0x180, 8), (0x500, 4))


def test_meter_types_map_to_models():
    assert models.for_type(1) is models.SDM72D_M and models.for_type(4) is models.SDM72D_M
    assert models.for_type(1, per_phase=True) is models.SDM72D_M_V2
    assert models.for_type(2) is models.NMID30_2 and models.for_type(5) is models.NMID30_2
    assert models.for_type(3) is models.SDM120M and models.for_type(6) is models.SDM120M
    assert models.for_type(0) is None and models.for_type(7) is None
    assert [models.is_ip(t) for t in range(8)] == [False, False, False, False, True, True, True, False]
