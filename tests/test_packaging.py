"""A plain (non-editable) ``pip install .`` gives an ``evsectl`` that finds
the firmware and board files it ships, and starts the simulator."""

import os
import subprocess
import sys
import time
from pathlib import Path

from simclient import SimClient, free_port

ROOT = Path(__file__).resolve().parents[1]


def test_installed_package_ships_firmware_and_runs_the_simulator(tmp_path):
    site = tmp_path / "site"
    # A real (non-editable) install of this package; its dependencies come
    # from the test environment, so nothing is downloaded.
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(ROOT)], check=True, cwd=tmp_path)
    env = dict(os.environ, PYTHONPATH=str(site))
    where = subprocess.run([sys.executable, "-c", "from evsectl import paths; print(paths.firmware_dir()); print(paths.boards_dir())"],
                           check=True, cwd=tmp_path, capture_output=True, text=True, env=env).stdout.split()
    for d in where:
        assert d.startswith(str(site)), where  # not the source tree
    assert (Path(where[0]) / "evse" / "kernel.py").is_file() and (Path(where[0]) / "main.py").is_file()
    assert (Path(where[1]) / "sim.json").is_file() and (Path(where[1]) / "esp32-devkit.json").is_file()

    port = free_port()
    proc = subprocess.Popen([str(site / "bin" / "evsectl"), "sim", "--fresh", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = SimClient("http://127.0.0.1:%d" % port)
        client.wait_ready(20, proc)
        time.sleep(0.3)
        assert client.status()["EvseState"] == 1
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert "Simulated charger ready: http://127.0.0.1:%d/webapi/v1/Status" % port in out


def test_the_simulator_refuses_a_hardware_board(tmp_path):
    out = subprocess.run([sys.executable, "-m", "evsectl", "sim", "--board", "esp32-devkit", "--fresh"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "drives real hardware" in out.stderr and "sim" in out.stderr
