"""Figures of the OCPP store, printed as JSON (run it on the 32-bit port,
whose heap is an ESP32's):

    ../shared/micropython32/micropython32 tests/ocpp/store_figures.py

journal_record_bytes: one MeterValues record with issue 13's five
measurands; journal_confirm_bytes: its confirmation; flash_bytes_per_hour
at the default MeterValueSampleInterval (10 s) and at 60 s; heap_*: bytes
the modules take once imported, and the objects with what they hold
(the journal's index with 80 unconfirmed records, about its 16 KiB bound
of MeterValues). Runs under CPython too (no heap figures there).
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
    print(json.dumps(figures))
    for name in os.listdir(d):
        os.remove(d + "/" + name)
    os.rmdir(d)


main()
