"""Modbus frames for reading input registers (function 0x04): RTU frames
(unit, PDU, CRC-16) and Modbus TCP frames (MBAP header, PDU).

Only what a meter reader needs: build a request, check an answer. Every way
an answer can be wrong raises ModbusError with a ``kind`` the caller counts.
"""

import struct

from evse.compat import const

READ_INPUT = const(0x04)

# ModbusError kinds
TIMEOUT = const(1)  # no (complete) answer in time
CRC = const(2)  # RTU checksum wrong
EXCEPTION = const(3)  # the meter answered with an exception code
GARBLED = const(4)  # too short, wrong unit, function, length or transaction
KINDS = ("", "timeout", "CRC error", "exception", "garbled frame")


class ModbusError(Exception):
    def __init__(self, kind, code=0):
        super().__init__(KINDS[kind] + (" %d" % code if code else ""))
        self.kind = kind
        self.code = code  # the exception code, for EXCEPTION


def crc16(data):
    """CRC-16/Modbus (poly 0xA001 reflected, init 0xFFFF)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def rtu_request(unit, start, count):
    frame = struct.pack(">BBHH", unit, READ_INPUT, start, count)
    return frame + struct.pack("<H", crc16(frame))


def rtu_answer_size(head):
    """Length of the RTU answer whose first 3 bytes are ``head``."""
    if head[1] & 0x80:
        return 5  # unit, function|0x80, exception code, CRC
    return 5 + head[2]  # unit, function, byte count, data, CRC


def rtu_check(frame, unit, count):
    """The register bytes of a complete RTU answer to ``rtu_request(unit, _, count)``."""
    if len(frame) < 5:
        raise ModbusError(GARBLED)
    if crc16(frame[:-2]) != frame[-2] | frame[-1] << 8:
        raise ModbusError(CRC)
    return _pdu(frame[1:-2], frame[0], unit, count)


def mbap_request(tid, unit, start, count):
    return struct.pack(">HHHBBHH", tid, 0, 6, unit, READ_INPUT, start, count)


def mbap_check(frame, tid, unit, count):
    """The register bytes of a complete MBAP answer (header included)."""
    if len(frame) < 9:
        raise ModbusError(GARBLED)
    t, proto, length = struct.unpack_from(">HHH", frame)
    if t != tid or proto != 0 or length != len(frame) - 6:
        raise ModbusError(GARBLED)
    return _pdu(frame[7:], frame[6], unit, count)


def _pdu(pdu, got_unit, unit, count):
    if got_unit != unit:
        raise ModbusError(GARBLED)
    fn = pdu[0]
    if fn == READ_INPUT | 0x80 and len(pdu) == 2:
        raise ModbusError(EXCEPTION, pdu[1])
    if fn != READ_INPUT or len(pdu) != 2 + 2 * count or pdu[1] != 2 * count:
        raise ModbusError(GARBLED)
    return pdu[2:]


def float32(data, offset):
    """The float32 at register ``offset`` of ``data`` (high word first)."""
    return struct.unpack_from(">f", data, 2 * offset)[0]
