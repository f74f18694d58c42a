"""The configuration store under both interpreters: factory defaults for a
missing or corrupt file, and no torn file whatever instant the power goes."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.config import ConfigStore
from evsectl import device, sim as simtool

WRITER = """
import sys
sys.path[:0] = ["slot_a", "slot_a/lib"]
from app.config import ConfigStore
store = ConfigStore("config.json")
n = 0
print("ready")
while True:
    n += 1
    store.update({"ChargeCurrent": 6 + n % 2, "DeviceName": "writer-%d" % n})
"""


def interpreters():
    return [("micropython", [simtool.micropython_exe()]), ("cpython", [sys.executable, "-u"])]


def test_missing_file_gives_factory_defaults(tmp_path, capsys):
    store = ConfigStore(str(tmp_path / "config.json"))
    assert store["ChargeCurrent"] == 16
    assert "factory defaults" in capsys.readouterr().out


@pytest.mark.parametrize("garbage", ["", "{", "[]", "\x00\x00\x00", '{"ChargeCurrent": 500}'])
def test_corrupt_file_gives_defaults_with_a_log_line(tmp_path, capsys, garbage):
    path = tmp_path / "config.json"
    path.write_text(garbage)
    store = ConfigStore(str(path))
    assert store["ChargeCurrent"] == 16
    out = capsys.readouterr().out
    assert "unreadable" in out or "invalid" in out


def test_a_corrupt_file_is_left_for_inspection_until_the_next_write(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{")
    store = ConfigStore(str(path))
    assert path.read_text() == "{"
    assert store.update({"ChargeCurrent": 20}) == {}
    assert json.loads(path.read_text())["ChargeCurrent"] == 20


@pytest.mark.parametrize("name,exe", interpreters())
def test_killing_the_process_mid_write_never_tears_the_file(tmp_path, name, exe):
    dev = device.assemble(tmp_path / "dev", "sim")
    (dev / "writer.py").write_text(WRITER)
    ConfigStore(str(dev / "config.json")).update({"ChargeCurrent": 6, "DeviceName": "writer-0"})
    rng = random.Random(1234)
    for _ in range(15):
        proc = subprocess.Popen(exe + ["writer.py"], cwd=dev, stdout=subprocess.PIPE, text=True)
        while proc.stdout.readline().strip() != "ready":
            pass
        time.sleep(rng.uniform(0.01, 0.15))
        os.kill(proc.pid, signal.SIGKILL)  # a power cut, as far as the file system is concerned
        proc.wait()
        values = json.loads((dev / "config.json").read_text())  # never torn
        assert values["ChargeCurrent"] in (6, 7)
        assert values["DeviceName"].startswith("writer-")
        # And the firmware's own loader accepts it, leftovers and all.
        out = subprocess.run(
            exe + ["-c", "import sys; sys.path[:0] = ['slot_a', 'slot_a/lib']; from app.config import ConfigStore, remove_leftovers;"
             " remove_leftovers(); print(ConfigStore()['DeviceName'])"],
            cwd=dev, capture_output=True, text=True, timeout=30)
        assert out.stdout.strip().endswith(values["DeviceName"])
        assert not (dev / "config.json.tmp").exists()


def test_a_setting_the_board_decides_reads_as_the_board_says(tmp_path):
    """LockMethod is the board file's lock.type: a stored or written
    disagreement is impossible (issue 12)."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"LockMethod": 0, "ChargeCurrent": 10}))
    store = ConfigStore(str(path), fixed={"LockMethod": 1})
    assert store["LockMethod"] == 1 and store["ChargeCurrent"] == 10
    assert "board file" in store.update({"LockMethod": 0})["LockMethod"]
    assert store["LockMethod"] == 1
    assert store.update({"LockMethod": 1, "ChargeCurrent": 12}) == {}
    store.factory_reset()
    assert store["LockMethod"] == 1
