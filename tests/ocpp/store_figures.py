"""Figures of the OCPP store, printed as JSON (run it on the 32-bit port,
whose heap is an ESP32's):

    ../shared/micropython32/micropython32 tests/ocpp/store_figures.py

journal_record_bytes: one MeterValues record with issue 13's five
measurands; journal_confirm_bytes: its confirmation; flash_bytes_per_hour
at the default MeterValueSampleInterval (10 s) and at 60 s; heap_*: bytes
the modules take once imported, and the objects with what they hold
(the journal's index with 80 unconfirmed records, about its 16 KiB bound
of MeterValues). Runs under CPython too (no heap figures there).

lfs_*: what an hour of charging at MeterValueSampleInterval 10 s costs the
flash itself under MicroPython (run with ``-X heapsize=4m``): the journal
and ``ocpp.tx`` written as the charge point writes them (chargepoint.py,
_sample and _flush: a record per sample, its confirmation, the open
transaction's register) onto LittleFS v2 as the ESP32 port mounts it
(4 KiB blocks, 1 MiB, MicroPython's defaults), over a block device that
counts the bytes programmed and the blocks erased. ``_default``: the default
MeterValuesSampledData (the register alone); ``_4``: all four measurands.
LittleFS never programs a block twice: an append after a sync copies the
file's unfinished last block to a fresh one, so each synced record costs
about an erase and half a block, whatever its own size.
"""

import gc
import json
import os
import sys

HERE = __file__.rpartition("/")[0] or "."
sys.path.insert(0, HERE + "/../../firmware")


def _used():
    gc.collect()
    try:
        return gc.mem_alloc()
    except AttributeError:  # CPython
        return 0


def _scratch():
    path = "store-figures.tmp"
    try:
        os.mkdir(path)
    except OSError:
        pass
    for name in os.listdir(path):
        os.remove(path + "/" + name)
    return path


class _CountingFlash:
    """A RAM block device with the extended interface LittleFS uses,
    counting what a NOR flash would be asked to do."""

    def __init__(self, blocks, size=4096):
        self.size = size
        self.blocks = blocks
        self.data = bytearray(blocks * size)
        self.programmed = 0
        self.erased = 0

    def readblocks(self, n, buf, off=0):
        at = n * self.size + off
        buf[:] = self.data[at:at + len(buf)]

    def writeblocks(self, n, buf, off=0):
        at = n * self.size + off
        self.data[at:at + len(buf)] = buf
        self.programmed += len(buf)

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.size
        if op == 6:  # erase
            self.erased += 1
        return 0


# The charge point's MeterValues record (chargepoint.ChargePoint._sample), as journalled.
_SAMPLES = (
    {"value": "123456789", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
    {"value": "11040", "measurand": "Power.Active.Import", "unit": "W"},
    {"value": "16.0", "measurand": "Current.Import", "unit": "A"},
    {"value": "16", "measurand": "Current.Offered", "unit": "A"},
)


def _littlefs_hour(figures, journal, measurands, suffix, interval_s=10):
    try:
        import vfs
    except ImportError:  # CPython
        return
    from app.atomic import write_atomic

    flash = _CountingFlash(256)
    vfs.VfsLfs2.mkfs(flash)
    vfs.mount(vfs.VfsLfs2(flash), "/lfs")
    here = os.getcwd()
    os.chdir("/lfs")
    try:
        j = journal.Journal("ocpp.jnl")
        record = {"ref": 12, "sampledValue": list(_SAMPLES[:measurands]), "timestamp": "2026-12-04T12:34:56Z"}
        programmed, erased = flash.programmed, flash.erased
        for n in range(3600 // interval_s):
            seq = j.append(journal.METER, record)
            write_atomic("ocpp.tx", '{"ref": 12, "wh": 123456789}')
            j.confirm(seq)
        figures["lfs_logical_bytes_per_hour" + suffix] = j.bytes_written + 3600 // interval_s * 28
        figures["lfs_program_bytes_per_hour" + suffix] = flash.programmed - programmed
        figures["lfs_erases_per_hour" + suffix] = flash.erased - erased
    finally:
        os.chdir(here)
        vfs.umount("/lfs")


def main():
    d = _scratch()
    figures = {}
    base = _used()
    from ocpp import journal

    figures["heap_journal_module"] = _used() - base
    base = _used()
    from ocpp import config

    figures["heap_config_module"] = _used() - base
    meter = journal.typical_meter_values()
    figures["journal_record_bytes"] = len(journal.encode(["A", 12345, journal.METER, meter]))
    figures["journal_confirm_bytes"] = len(journal.encode(["C", 12345]))
    figures["flash_bytes_per_hour_10s"] = journal.flash_bytes_per_hour(10)
    figures["flash_bytes_per_hour_60s"] = journal.flash_bytes_per_hour(60)
    base = _used()
    j = journal.Journal(d + "/ocpp.jnl", max_bytes=16384)
    figures["heap_journal_empty"] = _used() - base
    for n in range(80):
        j.append(journal.METER, meter)
    figures["journal_live_records"] = len(j)
    figures["heap_journal_80_records"] = _used() - base
    base = _used()
    c = config.OcppConfig(d + "/ocpp.json")
    c.change("MeterValueSampleInterval", "30")
    c.change("HeartbeatInterval", "300")
    figures["heap_config_object"] = _used() - base
    _littlefs_hour(figures, journal, 1, "_default")
    _littlefs_hour(figures, journal, 4, "_4")
    print(json.dumps(figures))
    for name in os.listdir(d):
        os.remove(d + "/" + name)
    os.rmdir(d)


main()
