"""Shared fixtures: a running simulator (the real firmware under the
MicroPython unix port, started with ``evsectl sim`` as a user would)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "firmware"))
sys.path.insert(0, str(ROOT / "tests"))

from simclient import SimClient, free_port  # noqa: E402


class SimProcess:
    """``evsectl sim`` in a subprocess, with a fresh device directory."""

    def __init__(self, device_dir, interpreter="micropython", virtual_time=True, extra=()):
        self.port = free_port()
        self.device_dir = Path(device_dir)
        self.log_path = self.device_dir.parent / "sim.log"
        self.cmd = [sys.executable, "-m", "evsectl", "sim", "--port", str(self.port),
                    "--device-dir", str(self.device_dir), "--interpreter", interpreter, *extra]
        if virtual_time:
            self.cmd.append("--virtual-time")
        self.client = SimClient("http://127.0.0.1:%d" % self.port)
        self.proc = None

    def start(self, timeout=20):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ))
        self.client.wait_ready(timeout, self.proc)
        return self

    def output(self):
        return self.log_path.read_text()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture
def sim_factory(tmp_path):
    started = []

    def make(files=None, **kw):
        """``files``: {name: JSON object} on the simulated flash before it
        starts, as a charger configured earlier has them (config.json...)."""
        s = SimProcess(tmp_path / ("dev%d" % len(started)), **kw)
        for name, content in (files or {}).items():
            s.device_dir.mkdir(parents=True, exist_ok=True)
            (s.device_dir / name).write_text(json.dumps(content))
        started.append(s)
        return s.start()

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def sim(sim_factory):
    """The firmware under MicroPython, virtual time, factory settings,
    half a second after power-up (self-test done, no vehicle)."""
    client = sim_factory().client
    client.advance(500)
    return client
