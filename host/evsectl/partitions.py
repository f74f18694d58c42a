"""The ESP32 partition table inside a MicroPython firmware image, and the
``romfs`` partition the charger's app slots live in.

A micropython.org "firmware" image for the ESP32 starts with the bootloader
(written at 0x1000) and carries the partition table 0x7000 bytes in (so at
0x8000 in flash). Its generic table ends with the ``vfs`` partition, the
filesystem. ``with_romfs`` takes PARTITION_SIZE off the end of ``vfs`` and
adds a ``romfs`` partition there: MicroPython (1.25 and later) maps the data
partition labelled ``romfs`` and hands it out through ``vfs.rom_ioctl``.

The table is ESP-IDF's binary format: 32-byte entries (magic AA 50, type,
subtype, offset, size, a 16-byte label, flags), then an entry EB EB FF.. whose
last 16 bytes are the MD5 of the entries before it, then 0xFF to the end.
"""

import hashlib
import struct

from evsectl import romfs

TABLE_AT = 0x7000  # in the image; 0x8000 in flash, where the image goes at 0x1000
TABLE_SIZE = 0xC00
ENTRY = struct.Struct("<2sBBLL16sL")
MAGIC = b"\xaa\x50"
MD5_MAGIC = b"\xeb\xeb"
DATA = 0x01
ROMFS_SUBTYPE = 0x8F  # as MicroPython's partitions-4MiB-romfs.csv
ROMFS_LABEL = "romfs"
MIN_VFS = 0x100000  # what the filesystem keeps at least: settings, logs, an app in files


class TableError(Exception):
    """The image's partition table cannot take a romfs partition; said in one line."""


def read(table):
    """The partition table's bytes as [(type, subtype, offset, size, label, flags)], or None."""
    entries = []
    for at in range(0, len(table) - ENTRY.size + 1, ENTRY.size):
        magic, ptype, subtype, offset, size, label, flags = ENTRY.unpack_from(table, at)
        if magic != MAGIC:
            break
        entries.append((ptype, subtype, offset, size, label.rstrip(b"\0").decode(), flags))
    return entries or None


def pack(entries):
    """The table's bytes: the entries, their MD5 entry, 0xFF to TABLE_SIZE."""
    body = b"".join(ENTRY.pack(MAGIC, t, s, o, n, label.encode(), f) for t, s, o, n, label, f in entries)
    body += MD5_MAGIC + b"\xff" * 14 + hashlib.md5(body).digest()
    if len(body) > TABLE_SIZE:
        raise TableError("too many partitions for one table")
    return body + b"\xff" * (TABLE_SIZE - len(body))


def find(entries, label):
    return next((e for e in entries if e[4] == label), None)


def with_romfs(image):
    """``image`` with a romfs partition of PARTITION_SIZE cut from the end of
    ``vfs``; unchanged if it has one already, or no partition table at all
    (a bootloader alone)."""
    entries = read(image[TABLE_AT:TABLE_AT + TABLE_SIZE])
    if entries is None or find(entries, ROMFS_LABEL):
        return image
    vfs = find(entries, "vfs")
    if vfs is None or vfs is not max(entries, key=lambda e: e[2]):
        raise TableError("the image's partition table has no vfs partition at its end to take romfs from")
    ptype, subtype, offset, size, label, flags = vfs
    if size - romfs.PARTITION_SIZE < MIN_VFS:
        raise TableError("the vfs partition (%d KiB) is too small to give %d KiB to romfs"
                         % (size // 1024, romfs.PARTITION_SIZE // 1024))
    size -= romfs.PARTITION_SIZE
    at = entries.index(vfs)
    entries[at] = (ptype, subtype, offset, size, label, flags)
    entries.insert(at + 1, (DATA, ROMFS_SUBTYPE, offset + size, romfs.PARTITION_SIZE, ROMFS_LABEL, 0))
    return image[:TABLE_AT] + pack(entries) + image[TABLE_AT + TABLE_SIZE:]
