"""``evsectl sim --repl``: a simulated board with a serial port, so that
``evsectl deploy`` and ``evsectl console`` can be tried without hardware, as
a user would (README, "Deploy without a board")."""

import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
import tty

import pytest

from processes import alive, children
from simclient import SimClient, free_port
from test_deploy import read_until


class ReplSim:
    def __init__(self, tmp_path):
        self.port = free_port()
        self.device_dir = tmp_path / "dev"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evsectl", "sim", "--repl", "--port", str(self.port),
             "--device-dir", str(self.device_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        while True:
            line = self.proc.stdout.readline()
            assert line, "the simulator ended: %s" % "".join(self.lines)
            self.lines.append(line)
            if line.startswith("Simulated charger ready"):
                break
        self.serial = re.search(r"Serial port \(REPL and log\): (\S+)", "".join(self.lines)).group(1)
        self.client = SimClient("http://127.0.0.1:%d" % self.port)

    def config(self):
        return self.client.ok(self.client.get("/webapi/v1/SystemConfig"))

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=15)
        return self.proc.returncode, "".join(self.lines) + out


@pytest.fixture
def repl_sim(tmp_path):
    sim = ReplSim(tmp_path)
    yield sim
    if sim.proc.poll() is None:
        sim.stop()  # as a user stops it: Ctrl-C, which stops the board too


def evsectl(*args):
    return subprocess.run([sys.executable, "-m", "evsectl", *args], capture_output=True, text=True, timeout=120)


def test_sim_repl_names_its_serial_port_and_the_charger_serves(repl_sim):
    assert os.path.exists(repl_sim.serial)
    assert "evsectl deploy --port %s --board sim" % repl_sim.serial in "".join(repl_sim.lines)
    assert repl_sim.client.status()["SystemVersion"]
    code, out = repl_sim.stop()
    assert code == 0 and "Traceback" not in out


def test_deploy_through_the_simulated_serial_port_restarts_the_charger_on_what_it_wrote(repl_sim):
    assert repl_sim.config()["WiFiSSID"] != "Home"
    done = evsectl("deploy", "--port", repl_sim.serial, "--board", "sim", "--wifi", "Home:secret123")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].endswith("the board restarts")
    # The app was stopped for the copy (Ctrl-C, as on a board), the board reset,
    # and the deployed build (precompiled .mpy) serves with the new settings.
    deadline = time.monotonic() + 30
    while True:
        try:
            if repl_sim.config()["WiFiSSID"] == "Home":
                break
        except OSError:
            pass  # restarting
        assert time.monotonic() < deadline, "the charger did not come back with the deployed settings"
        time.sleep(0.2)
    manifest = json.loads((repl_sim.device_dir / "slot_a" / "manifest.json").read_text())
    assert any(f["path"].endswith(".mpy") for f in manifest["files"])
    code, out = repl_sim.stop()
    assert code == 0 and "Traceback" not in out


def test_console_interrupts_the_running_charger_like_a_board(repl_sim):
    terminal, end = pty.openpty()
    tty.setraw(end)
    proc = subprocess.Popen([sys.executable, "-m", "evsectl", "console", "--port", repl_sim.serial],
                            stdin=end, stdout=end, stderr=end)
    os.close(end)
    try:
        read_until(terminal, b"Ctrl-]")
        os.write(terminal, b"\x03")  # Ctrl-C: the app stops (its last word), the REPL answers
        read_until(terminal, b">>> ")
        os.write(terminal, b'print("con" + "sole")\r')
        read_until(terminal, b"console")
        os.write(terminal, b"\x1d")
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(terminal)


def test_sim_repl_needs_micropython():
    done = evsectl("sim", "--repl", "--interpreter", "cpython", "--port", str(free_port()))
    assert (done.returncode, done.stderr) == (
        2, "evsectl sim: --repl needs MicroPython, whose REPL mpremote speaks; leave out --interpreter cpython\n")


def test_a_simulator_killed_outright_takes_its_board_with_it(repl_sim):
    pids = children(repl_sim.proc.pid)
    assert pids  # the interpreter the board runs
    repl_sim.proc.kill()
    repl_sim.proc.wait()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < deadline, "the board's interpreter outlived its simulator"
        time.sleep(0.05)




def test_a_plain_simulator_killed_outright_takes_its_firmware_with_it(sim_factory):
    s = sim_factory()
    pids = children(s.proc.pid)
    assert pids
    s.proc.kill()
    s.proc.wait()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < deadline, "the firmware outlived its simulator"
        time.sleep(0.05)
