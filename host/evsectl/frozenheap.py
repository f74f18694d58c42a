"""What the heap would hold with the app frozen into the MicroPython image
instead of loaded from the ROM image: ``python -m evsectl.frozenheap``
(tools/frozen-heap) prints it for "everything on" (design.md's budget:
both meters polling, OCPP connected in a transaction, every endpoint).

An ``.mpy`` file loaded from ROM keeps its bytecode and string data in
flash, but MicroPython still builds on the heap, per module, its table of
names (2 bytes a name), a pool entry for every name not yet interned (7
bytes; the pools double: 9 KB at once for the seventh), a raw-code record
for every function (16 bytes) and its children's table, and an object for
every constant string longer than 10 characters, tuple and float (16 bytes
and up). Frozen into the image (``freeze`` in a manifest, as MicroPython's
ports build their own modules), all of that is in flash too: only what the
code makes when it runs (module and class dicts, function objects,
instances) is left on the heap.

This builds the 32-bit unix port (``../shared/micropython32``'s build.sh:
the same source and flags, ``gcc -m32``, about 3 minutes) with asyncio and
the firmware (``firmware/``'s packages and microdot) frozen in, then runs
the same charger ``evsectl bench`` runs for its OCPP figures on it, with no
app slot on the simulated flash. It prints:

    boot_heap_bytes_frozen_32          heap in use after boot (OCPP configured)
    ocpp_heap_bytes_frozen_32          heap in use, everything on
    min_heapsize_kib_ocpp_frozen_32    the least heap for everything on

A figure, not a build for boards: flashing such an image, and updating
the app with it, is not what ``evsectl build``/``flash``/OTA do today
(docs/ota.md, "Everything on"). Only Python modules are frozen: the
app's data file (app/openapi.json, the WebAPI's openapi.json) is not on
such a device, and the measurement does not ask for it.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from evsectl import bench, bench_ocpp, device, paths
from evsectl.errors import UserError

SOURCE = paths.source_tree().parent / "shared" / "micropython32" / "micropython-src.tar.xz"


def manifest(firmware, microdot_dir):
    """The frozen-module manifest: asyncio as the stock build has it, and the
    app: every package and module of ``firmware`` but the loaders (boot.py,
    main.py stay files on the flash), and microdot (from ``microdot_dir``)."""
    firmware = Path(firmware)
    lines = ['include("$(MPY_DIR)/extmod/asyncio")']
    for p in sorted(firmware.iterdir()):
        if p.suffix == ".py" and p.name not in device.ENTRY_POINTS:
            lines.append("module(%r, base_path=%r)" % (p.name, str(firmware)))
        elif (p / "__init__.py").is_file():
            lines.append("package(%r, base_path=%r)" % (p.name, str(firmware)))
    # ``microdot_dir``: the package's own directory (what device.assemble copies from).
    lines.append("package('microdot', files=('__init__.py', 'microdot.py'), base_path=%r)"
                 % str(Path(microdot_dir).parent))
    return "\n".join(lines) + "\n"


def build(workdir, source=SOURCE):
    """Build the 32-bit unix port with the app frozen in; returns its path."""
    import microdot

    workdir = Path(workdir)
    subprocess.run(["tar", "-xJf", str(source), "-C", str(workdir)], check=True)
    src = workdir / "micropython"
    (workdir / "manifest.py").write_text(manifest(paths.firmware_dir(), Path(microdot.__file__).parent))
    # No micropython-lib (a submodule, not in the archive): an empty stand-in, as build.sh has.
    (workdir / "mpylib").mkdir()
    (workdir / "mpylib" / "README.md").touch()
    jobs = str(os.cpu_count() or 1)
    steps = (
        ["make", "-s", "-C", str(src / "mpy-cross"), "-j" + jobs],
        # The flags of ../shared/micropython32/build.sh, and the manifest above.
        ["make", "-s", "-C", str(src / "ports" / "unix"), "-j" + jobs, "VARIANT=standard", "BUILD=build-m32",
         "CFLAGS_EXTRA=-m32", "LDFLAGS_EXTRA=-m32", "MICROPY_PY_FFI=0", "MICROPY_PY_SSL=0",
         "MICROPY_SSL_MBEDTLS=0", "MICROPY_PY_BTREE=0", "FROZEN_MANIFEST=%s" % (workdir / "manifest.py"),
         "MPY_LIB_DIR=%s" % (workdir / "mpylib"), "MICROPY_MPYCROSS=%s" % (src / "mpy-cross" / "build" / "mpy-cross")],
    )
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode:
            raise UserError("building the frozen 32-bit MicroPython failed (gcc -m32 needs gcc-multilib):\n"
                            + (done.stdout + done.stderr)[-2000:])
    return src / "ports" / "unix" / "build-m32" / "micropython"


def measure(workdir, exe, bus_port):
    figures = {}
    cs = bench_ocpp.CentralSystem(bench._free_port())
    s = bench_ocpp._charger(workdir, bus_port, cs.port, str(exe), "256k", "frozen", frozen=True)
    try:
        match = re.search(r"heap free \d+ used (\d+)", s.boot_line)
        if not match or not bench_ocpp._in_transaction(s, cs):
            raise UserError("the frozen charger did not charge; it printed:\n" + "".join(s.output[-30:]))
        figures["boot_heap_bytes_frozen_32"] = int(match.group(1))
        figures["ocpp_heap_bytes_frozen_32"] = bench_ocpp._heap_in_use(s, 256)
    finally:
        s.close()
        cs.stop()
    figures["min_heapsize_kib_ocpp_frozen_32"] = bench_ocpp.min_heapsize_kib(workdir, bus_port, str(exe), 32, 128,
                                                                             frozen=True)
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m evsectl.frozenheap", description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", help="a 32-bit MicroPython already built by this module (skips the build)")
    parser.add_argument("--keep", help="build in this directory and keep it (the binary is build-m32/micropython)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="evse-frozen-") as workdir:
        exe = args.binary
        if exe is None:
            where = Path(args.keep) if args.keep else Path(workdir) / "build"
            where.mkdir(parents=True, exist_ok=True)
            exe = build(where)
            print("built %s" % exe, file=sys.stderr)
        bus = bench._bus()
        try:
            figures = measure(workdir, exe, bus.port)
        finally:
            bus.stop()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as e:
        print("frozenheap: %s" % e, file=sys.stderr)
        sys.exit(2)
