"""Runs first at every power-up and reset: outputs safe, then the app slot.

The flash holds two app slots (``slot_a/``, ``slot_b/``) beside this loader;
``slots.json`` says which one runs (missing: ``slot_a``). OTA installs a new
version into the other slot and makes it active *on trial*::

    {"active": "slot_b", "previous": "slot_a", "version": "0.2.0", "trial_boots": 0}

This loader counts the trial boot; a trial that was booted once and never
confirmed healthy (the app rewrites the file as ``{"active": "slot_b"}``) is
rolled back here at the next boot::

    {"active": "slot_a", "rolled_back": "0.2.0"}

On the ESP32 a trial boot also arms the hardware watchdog (TRIAL_WATCHDOG_MS),
so a version that hangs before its runtime takes the watchdog over is reset,
and so rolled back, too.

A board with a ``romfs`` flash partition (see host/evsectl/romfs.py) keeps
each slot there as a ROM image instead, ``slot_a`` in the first ROM_SLOT_SIZE
bytes and ``slot_b`` in the next: the active one is mounted at ``/rom`` and
its bytecode runs from flash, leaving the heap to the charger. A slot with
no valid image there runs from its directory, as above.

Nothing in the slots is trusted before the outputs are safe: the board
file's output pins are first driven with ``machine.Pin`` alone (contactor and
lock off, CP at a steady +12 V). Only then is the slot chosen, put at the
front of ``sys.path`` (``<slot>`` and ``<slot>/lib``), and its board adapter
asked for the full ``safe()``. Every step is guarded: a broken slot, board
file or flash still leaves the outputs as safe as this file alone can make
them, and main.py still runs. OTA never replaces this file.
"""

import gc
import sys

# Collect every few KiB allocated, not only when the heap is full: what boot
# and the imports leave behind is reused at once, so the long-lived objects
# end up packed together and a request later finds its free blocks side by
# side instead of scattered between them. The charger then boots and serves
# in some 12 KiB less heap (evsectl bench: min_heapsize_kib).
GC_EVERY_BYTES = 2048
try:
    gc.threshold(GC_EVERY_BYTES)
except AttributeError:  # CPython, whose collector counts objects, not bytes
    pass

SLOTS = ("slot_a", "slot_b")
ROM_SLOT_SIZE = 0x40000  # as evsectl.romfs.SLOT_SIZE and hal/romfs.py
TRIAL_WATCHDOG_MS = 150000  # longer than the new version's health check (app/ota.py)


def _report(what, e):
    print("boot: %s failed: %r" % (what, e))


def _esp32():
    """True for a board driven by machine.* (the simulated one has no pins)."""
    import json

    with open("board.json") as f:
        return json.load(f).get("hal") == "esp32"


def _pins_safe():
    """The board file's outputs at their safe levels, with no app module involved."""
    import json
    import machine

    with open("board.json") as f:
        b = json.load(f)
    relay, lock, rcm = b["relay"], b.get("lock", {}), b.get("rcm", {})
    for pin in (relay.get("pin"), lock.get("lock_pin"), lock.get("unlock_pin"), lock.get("servo_pin"),
                rcm.get("test_pin")):
        if pin is not None:
            machine.Pin(pin, machine.Pin.OUT, value=0)  # all active-high
    machine.Pin(b["cp"]["pwm_pin"], machine.Pin.OUT, value=1)  # steady +12 V: no offer


def _exists(path):
    import os

    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _rom_segment(vfs):
    """The romfs partition as a buffer, or None: on the ESP32 the flash
    partition MicroPython maps; in the simulator the file ``evsectl sim``
    maps for it (its address in EVSE_ROMFS)."""
    if hasattr(vfs, "rom_ioctl"):
        return vfs.rom_ioctl(2, 0) if vfs.rom_ioctl(1) > 0 else None
    import os

    where = os.getenv("EVSE_ROMFS")
    if not where:
        return None
    import uctypes

    address, length = where.split(":")
    return uctypes.bytearray_at(int(address), int(length))


def _rom_image(slot):
    """The slot's ROM image as a filesystem (vfs.VfsRom), or None."""
    try:
        import vfs

        segment = _rom_segment(vfs)
        if segment is None:
            return None
        start = SLOTS.index(slot) * ROM_SLOT_SIZE
        image = memoryview(segment)[start:start + ROM_SLOT_SIZE]
        return vfs.VfsRom(image)  # type: ignore[attr-defined]  # MicroPython has it; the port's stubs do not
    except (ImportError, AttributeError, OSError):
        # CPython or a MicroPython without ROMFS; or no image there (erased, or being written by OTA)
        return None


def _unmount_rom():
    """Undo what MicroPython did by itself at power-up: mount the partition's
    first image at /rom and put it on sys.path."""
    try:
        import vfs

        vfs.umount("/rom")
    except (ImportError, OSError):
        pass
    for path in ("/rom", "/rom/lib"):
        if path in sys.path:
            sys.path.remove(path)


def _write(state):
    """slots.json by atomic replace: a power cut leaves the old or the new file."""
    import json
    import os

    with open("slots.json.tmp", "w") as f:
        json.dump(state, f)
    os.rename("slots.json.tmp", "slots.json")


def select():
    """(slot to run now, whether it runs on trial); counts a trial boot and
    rolls back an unconfirmed one."""
    import json

    try:
        with open("slots.json") as f:
            state = json.load(f)
        slot = state["active"]
    except OSError:
        return "slot_a", False  # deployed without the file
    except (ValueError, KeyError, TypeError) as e:
        _report("reading slots.json", e)
        return "slot_a", False
    previous = state.get("previous")
    trial = previous in SLOTS and previous != slot
    if trial:
        if state.get("trial_boots", 0) >= 1:
            print("boot: %s was not confirmed healthy; back to %s" % (slot, previous))
            slot = previous
            trial = False
            state = {"active": slot, "rolled_back": state.get("version", "?")}
        else:
            state["trial_boots"] = 1
        try:
            _write(state)
        except OSError as e:
            # A trial that cannot be counted could never be rolled back: not now.
            _report("writing slots.json", e)
            slot = previous
            trial = False
    if slot not in SLOTS:
        slot = "slot_a"
    return slot, trial


def _use(slot):
    """Put ``slot`` first on sys.path, its ROM image mounted at /rom or its
    directory; a slot that has neither gives way to the other. Returns the slot."""
    _unmount_rom()
    rom = _rom_image(slot)
    if rom is None and not _exists(slot):
        other = SLOTS[1 - SLOTS.index(slot)]
        rom = _rom_image(other)
        if rom is not None or _exists(other):
            slot = other
    if rom is not None:
        import vfs

        vfs.mount(rom, "/rom")
        paths = ("/rom/lib", "/rom")
    else:
        paths = (slot + "/lib", slot)
    for path in paths:
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
    return slot


_slot, _trial, _hw = "slot_a", False, False
try:
    _hw = _esp32()
    if _hw:
        _pins_safe()
except Exception as e:
    _report("raw pin reset", e)

try:
    _slot, _trial = select()
except Exception as e:  # a broken flash: run the active slot without counting
    _report("slot selection", e)
try:
    _slot = _use(_slot)
except Exception as e:
    _report("mounting the app", e)

if _trial and _hw:
    try:
        import machine

        machine.WDT(timeout=TRIAL_WATCHDOG_MS)
    except Exception as e:
        _report("trial watchdog", e)

try:
    from hal import board, open_board

    open_board(board.load("board.json"))[0].safe()
except Exception as e:
    _report("board adapter", e)

# The loader's work is done: its code need not hold heap while the app runs.
del _report, _esp32, _pins_safe, _exists, _rom_segment, _rom_image, _unmount_rom, _write, select, _use
