"""The romfs partition's two app slots, as OTA writes them.

``slot_a`` is the first SLOT_SIZE bytes of the partition, ``slot_b`` the
next; boot.py mounts the active one at ``/rom`` (see its docstring). On the
ESP32 the partition is the ``esp32.Partition`` that ``vfs.rom_ioctl`` hands
out: read through its memory mapping, erased in BLOCK-byte blocks
(``ioctl(6, n)``) and programmed with ``writeblocks(n, data, offset)``. In
the simulator it is a bytearray over the file ``evsectl sim`` maps, where a
write is a copy and an erase a fill with 0xFF, as flash reads after one.
"""

import hashlib

SLOT_SIZE = 0x40000  # as boot.py's ROM_SLOT_SIZE and evsectl.romfs.SLOT_SIZE
BLOCK = 4096
HEADER = 16  # bytes of an image that make it mountable; programmed last


def segment():
    """The romfs partition, or None if this board has none."""
    try:
        import vfs
    except ImportError:  # CPython
        return None
    if hasattr(vfs, "rom_ioctl"):
        return vfs.rom_ioctl(2, 0) if vfs.rom_ioctl(1) > 0 else None
    import os

    where = os.getenv("EVSE_ROMFS")
    if not where:
        return None
    import uctypes

    address, length = where.split(":")
    return uctypes.bytearray_at(int(address), int(length))


class SlotWriter:
    """Streams an image of ``size`` bytes into ROM slot ``index`` (0 or 1).

    The slot's first block is erased before anything else and the image's
    first HEADER bytes are programmed only by ``finish``, after the rest is
    in place and checked: an interrupted write leaves a slot that boot.py
    does not mount, never a torn image it would run.
    """

    def __init__(self, part, index, size):
        if size > SLOT_SIZE:
            raise ValueError("the image is %d bytes; a ROM slot holds %d" % (size, SLOT_SIZE))
        self.part = part
        self.base = index * SLOT_SIZE
        self.size = size
        self.pos = 0
        self.header = b""
        self._flash = hasattr(part, "writeblocks")
        self._erase(self.base // BLOCK)

    def _erase(self, block):
        if self._flash:
            self.part.ioctl(6, block)
        else:
            at = block * BLOCK
            self.part[at:at + BLOCK] = b"\xff" * BLOCK

    def _program(self, at, data):
        if self._flash:
            self.part.writeblocks(at // BLOCK, data, at % BLOCK)
        else:
            self.part[at:at + len(data)] = data

    def write(self, data):
        if self.pos + len(data) > self.size:
            raise ValueError("more than the announced %d bytes" % self.size)
        if self.pos < HEADER:
            keep = HEADER - self.pos
            self.header += bytes(data[:keep])
            data = b"\xff" * min(keep, len(data)) + data[keep:]  # erased flash: programmed later
        while data:
            at = self.base + self.pos
            if at % BLOCK == 0 and self.pos:
                self._erase(at // BLOCK)
            n = min(len(data), BLOCK - at % BLOCK)
            self._program(at, data[:n])
            data = data[n:]
            self.pos += n

    def sha256(self):
        """SHA-256 of the image as the flash holds it (with the header it will get)."""
        h = hashlib.sha256(self.header)
        view = memoryview(self.part)
        for at in range(self.base + HEADER, self.base + self.size, BLOCK):
            h.update(view[at:min(at + BLOCK, self.base + self.size)])
        return h.digest()

    def finish(self):
        """Make the slot mountable: program the header."""
        if self.pos != self.size:
            raise ValueError("got %d of %d bytes" % (self.pos, self.size))
        self._program(self.base, self.header)


def clear(part, index):
    """Erase ROM slot ``index``'s first block: boot.py no longer mounts it."""
    SlotWriter(part, index, 0)
