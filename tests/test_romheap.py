"""The app in ROM on a binary that cannot map the partition (evsectl.romheap),
here the 32-bit MicroPython: the image is in the heap, the app still gets
the heap it was given, and what the firmware writes into the partition
reaches the file when it exits to restart."""

import subprocess

import micropython32
from evsectl import romfs, romheap

_POOL = "import gc; print(gc.mem_alloc() + gc.mem_free() - %d)"


def _run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout.strip()


def test_the_app_gets_the_heap_it_was_given_beside_the_image(tmp_path):
    exe = micropython32.exe()
    part = tmp_path / "romfs.bin"
    part.write_bytes(romfs.partition(b""))
    _, plain = _run([exe, "-X", "heapsize=96k", "-c", _POOL % 0])
    code, beside = _run(romheap.command(exe, str(part), "96k", _POOL % romheap.HEAP_BYTES))
    assert code == 0
    assert 0 <= int(beside) - int(plain) <= 64  # the same heap, to the GC tables' rounding


def test_what_the_firmware_writes_into_the_partition_reaches_the_file_at_exit(tmp_path):
    part = tmp_path / "romfs.bin"
    part.write_bytes(romfs.partition(b""))
    write = ("import os, uctypes\n"
             "where, n = os.getenv('EVSE_ROMFS').split(':')\n"
             "uctypes.bytearray_at(int(where), int(n))[romfs_at:romfs_at + 5] = b'slotb'\n"
             "import sys; sys.exit(75)\n").replace("romfs_at", str(romfs.SLOT_SIZE))
    code, _ = _run(romheap.command(micropython32.exe(), str(part), None, write))
    assert code == 75  # the firmware's "restart me"
    data = part.read_bytes()
    assert data[romfs.SLOT_SIZE:romfs.SLOT_SIZE + 5] == b"slotb" and len(data) == romfs.PARTITION_SIZE


def test_heapsize_reads_like_micropythons():
    assert [romheap.heapsize_bytes(h) for h in ("96k", "1m", "65536", "64K")] == [98304, 1048576, 65536, 65536]
