"""Writing a ROM slot (firmware/hal/romfs.py) as OTA does on an ESP32: into a
model of NOR flash, where a program can only clear bits and an erase sets a
whole block back to 0xFF. No ESP32 emulator exists here, so the model is ours;
it is strict where the flash is: programming over data that was not erased
corrupts it, which the test would see. The simulator's path (a mapped file)
runs end to end in tests/test_ota.py."""

import hashlib
import os

import pytest

from hal import romfs

BLOCK = romfs.BLOCK


class NorPartition(bytearray):
    """The romfs partition as ``esp32.Partition`` serves it: readable as a
    buffer (the memory mapping), ``ioctl(6, n)`` erases block n,
    ``writeblocks(n, data, offset)`` programs without erasing."""

    def __init__(self):
        super().__init__(os.urandom(2 * romfs.SLOT_SIZE))  # whatever was there before
        self.erases = []

    def ioctl(self, op, block):
        assert op == 6
        self.erases.append(block)
        self[block * BLOCK:(block + 1) * BLOCK] = b"\xff" * BLOCK

    def writeblocks(self, block, data, offset):
        at = block * BLOCK + offset
        assert offset + len(data) <= BLOCK, "a write stays inside its block"
        self[at:at + len(data)] = bytes(a & b for a, b in zip(self[at:at + len(data)], data))


def image(size):
    return bytes([0xD2, 0xCD, 0x31]) + os.urandom(size - 3)


def write(part, index, data, chunk=1000):
    w = romfs.SlotWriter(part, index, len(data))
    for at in range(0, len(data), chunk):
        w.write(data[at:at + chunk])
    return w


@pytest.mark.parametrize("chunk", [1, 7, 1000, 4096, 5000])
def test_an_image_lands_whole_in_its_slot_and_nowhere_else(chunk):
    part = NorPartition()
    before = bytes(part[:romfs.SLOT_SIZE])
    data = image(3 * BLOCK + 123 if chunk > 1 else 300)
    w = write(part, 1, data, chunk)
    assert w.sha256() == hashlib.sha256(data).digest()
    w.finish()
    start = romfs.SLOT_SIZE
    assert bytes(part[start:start + len(data)]) == data
    assert bytes(part[:romfs.SLOT_SIZE]) == before  # the running slot is untouched
    assert sorted(set(part.erases)) == part.erases == list(range(start // BLOCK, start // BLOCK + -(-len(data) // BLOCK)))


def test_until_finish_the_slot_has_no_header_so_it_does_not_mount():
    part = NorPartition()
    data = image(2 * BLOCK)
    w = write(part, 0, data)
    assert bytes(part[:romfs.HEADER]) == b"\xff" * romfs.HEADER
    assert bytes(part[romfs.HEADER:len(data)]) == data[romfs.HEADER:]
    w.finish()
    assert bytes(part[:len(data)]) == data


def test_a_corrupted_flash_shows_in_the_read_back_hash():
    part = NorPartition()
    data = image(2 * BLOCK)
    w = write(part, 0, data)
    part[BLOCK + 5] ^= 0x01  # a bit the flash did not keep
    assert w.sha256() != hashlib.sha256(data).digest()


def test_more_or_fewer_bytes_than_announced_are_refused():
    part = NorPartition()
    w = write(part, 0, image(100))
    with pytest.raises(ValueError):
        w.write(b"x")
    short = romfs.SlotWriter(part, 1, 200)
    short.write(image(100))
    with pytest.raises(ValueError):
        short.finish()
    with pytest.raises(ValueError):
        romfs.SlotWriter(part, 0, romfs.SLOT_SIZE + 1)


def test_clear_erases_the_header_block():
    part = NorPartition()
    write(part, 1, image(BLOCK)).finish()
    romfs.clear(part, 1)
    assert bytes(part[romfs.SLOT_SIZE:romfs.SLOT_SIZE + BLOCK]) == b"\xff" * BLOCK


def test_the_simulators_partition_is_a_plain_buffer():
    part = bytearray(2 * romfs.SLOT_SIZE)
    data = image(BLOCK + 10)
    w = write(part, 1, data, 333)
    w.finish()
    assert bytes(part[romfs.SLOT_SIZE:romfs.SLOT_SIZE + len(data)]) == data
