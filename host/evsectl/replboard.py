"""A MicroPython board on a serial port, for mpremote, with no board
(``evsectl sim --repl``, and the deploy tests).

The MicroPython unix port's REPL speaks the same raw REPL and raw-paste
protocol as a board's (see mpremote's transport_serial.py and MicroPython's
shared/runtime/pyexec.c), so mpremote's own code runs on real MicroPython.
What the unix port lacks is the board around the interpreter; ReplDevice
plays that part:

- The serial port. ``port`` is a pty that mpremote opens like /dev/ttyUSB0;
  a relay thread carries bytes between it and a second pty on which the
  interpreter runs (it outlives any one interpreter, as a USB-serial chip
  outlives resets).
- The flash. Each interpreter mounts ``flash_dir`` at ``/`` (vfs.VfsPosix)
  before its REPL starts, so ``/boot.py`` lands there, never in the host's
  root. Its rename goes through a root-less VfsPosix: with a root, MicroPython
  up to 1.29 builds both paths in one buffer and renames new to new
  (micropython#7389, fixed by #19570).
- Resets. On a board, Ctrl-D at an empty raw REPL soft-reboots and comes back
  at the raw REPL; the unix port exits instead. The relay answers the exit as
  the board would: "soft reboot", a fresh interpreter, the raw REPL prompt.
  ``machine.reset()``, which the unix port lacks, ends the interpreter with
  HARD_RESET_EXIT, answered like a hard reset: a fresh interpreter at the
  friendly prompt. So does the firmware's own restart (exit code 75, see
  firmware/main.py).
- The app. Given ``app`` (``"import boot, main"``), every hard reset runs it
  after mounting the flash, as a board runs boot.py and main.py at power-up,
  and its log goes to the serial port. Ctrl-C on the port then interrupts it
  as a board's UART does (the unix port only sees SIGINT), and the
  interpreter drops to its REPL. Without ``app`` a reset ends at the REPL.
- A UART with nobody listening drops what is sent: output waits in a
  bounded buffer for whoever opens the port, the oldest lost first, and
  never stalls the interpreter.
"""

import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
import tty

from evsectl.sim import die_with_parent, micropython_exe

HARD_RESET_EXIT = 42
FIRMWARE_RESTART_EXIT = 75  # firmware/main.py and hal/sim.py: "restart me"
PENDING_MAX = 65536  # output held for a port nobody reads
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_PROMPT = b">>> "

_STARTUP = """
import os, sys, vfs
class Flash(vfs.VfsPosix):
    posix = vfs.VfsPosix()
    def rename(self, old, new):
        self.posix.rename(%(flash)r + '/' + old, %(flash)r + '/' + new)
vfs.umount('/')
vfs.mount(Flash(%(flash)r), '/')
os.chdir('/')
class machine:
    def reset():
        raise SystemExit(%(reset)d)
sys.modules['machine'] = machine
del os, sys, vfs, Flash, machine
"""


class ReplDevice:
    def __init__(self, flash_dir, rom_partition=None, app=None, interpreter=None):
        """``rom_partition``: a file to be the board's romfs partition,
        mapped the way ``evsectl sim --romfs`` maps it (evsectl.romfs);
        ``app``: code a hard reset runs (see above); ``interpreter``: the
        command line that starts MicroPython (default: the unix port)."""
        self.flash_dir = str(flash_dir)
        self.rom_partition = rom_partition
        self.app = app
        self.interpreter = interpreter
        self._app_running = False
        self._pending = b""  # output the port could not take yet
        self.hard_resets = 0  # counted once the board is back
        self.soft_reboots = 0
        self._raw = False  # the REPL the board is in: Ctrl-A enters raw, Ctrl-B leaves it
        self._host, self._host_end = pty.openpty()
        tty.setraw(self._host_end)  # kept open: mpremote closes and reopens the port
        os.set_blocking(self._host, False)
        self.port = os.ttyname(self._host_end)
        self._stop = threading.Event()
        self._proc = None
        self._dev = None
        self._send(self._boot(raw=False))
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def _boot(self, raw):
        """A fresh interpreter on the flash; returns what the board shows."""
        dev, end = pty.openpty()
        tty.setraw(end)
        startup = _STARTUP % {"flash": self.flash_dir, "reset": HARD_RESET_EXIT}
        if self.interpreter:
            runner = list(self.interpreter)
        elif self.rom_partition:
            runner = [sys.executable, "-m", "evsectl.romfs", str(self.rom_partition)]
        else:
            runner = [micropython_exe()]
        if self.app and not raw:
            startup += self.app + "\n"
        self._proc = subprocess.Popen(runner + ["-i", "-c", startup], stdin=end, stdout=end, stderr=end,
                                      cwd=self.flash_dir, preexec_fn=die_with_parent)
        os.close(end)  # the interpreter's exit then reads as EIO on dev
        self._dev = dev
        if self.app and not raw:
            self._app_running = True  # its output flows through the relay
            return b""
        shown = self._read_until(FRIENDLY_PROMPT)
        if not raw:
            return shown
        os.write(dev, b"\x01")
        self._read_until(RAW_PROMPT)
        return RAW_PROMPT

    def _read_until(self, end, timeout=10):
        data = b""
        deadline = time.monotonic() + timeout
        while not data.endswith(end):
            if time.monotonic() > deadline:
                raise RuntimeError("the interpreter did not show %r: %r" % (end, data))
            if select.select([self._dev], [], [], 0.1)[0]:
                data += os.read(self._dev, 4096)
        return data

    def _relay(self):
        while not self._stop.is_set():
            ready, writable, _ = select.select([self._host, self._dev], [self._host] if self._pending else [], [], 0.1)
            if writable:
                self._send(b"")
            if self._host in ready:
                try:
                    data = os.read(self._host, 4096)
                except BlockingIOError:
                    data = b""
                if self._app_running and b"\x03" in data:
                    self._proc.send_signal(signal.SIGINT)
                last_a, last_b = data.rfind(b"\x01"), data.rfind(b"\x02")
                if last_a != last_b:
                    self._raw = last_a > last_b
                try:
                    os.write(self._dev, data)
                except OSError:  # the interpreter is gone: a resetting board loses input too
                    pass
            if self._dev in ready:
                try:
                    data = os.read(self._dev, 4096)
                except OSError:  # EIO: the interpreter has exited
                    data = b""
                if data:
                    if self._app_running and FRIENDLY_PROMPT in data:
                        self._app_running = False  # interrupted, or ended: at the REPL
                    self._send(data)
                else:
                    self._reboot()

    def _send(self, data):
        """To the port; what it cannot take now waits in ``_pending``."""
        data = (self._pending + data)[-PENDING_MAX:]
        try:
            data = data[os.write(self._host, data):]
        except BlockingIOError:
            pass
        self._pending = data

    def _reboot(self):
        code = self._proc.wait()
        os.close(self._dev)
        self._app_running = False
        if code in (HARD_RESET_EXIT, FIRMWARE_RESTART_EXIT):
            self._raw = False
            self._send(self._boot(raw=False))
            self.hard_resets += 1
        else:
            self._send(b"MPY: soft reboot\r\n" + self._boot(raw=self._raw))
            self.soft_reboots += 1

    def wait_for_hard_resets(self, count, timeout=10):
        """Until the board has come back from ``count`` hard resets in all."""
        deadline = time.monotonic() + timeout
        while self.hard_resets < count:
            assert time.monotonic() < deadline, "%d hard resets, not %d" % (self.hard_resets, count)
            time.sleep(0.02)

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        for fd in (self._dev, self._host, self._host_end):
            try:
                os.close(fd)
            except OSError:
                pass
