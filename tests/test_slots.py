"""The boot loaders and the two app slots: which slot runs, trial boots and
their rollback, and outputs made safe even when the app is broken.

Runs boot.py (and main.py) in an assembled device directory under the
MicroPython unix port, as the simulator does; the raw pin reset of an ESP32
board runs under CPython on a fake ``machine`` that records pin writes (no
real peer exists for GPIOs here).
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evsectl import device, paths, romfs, sim as simtool

# Runs the loader only (main.py would start the charger), then says what it chose.
PROBE = "import boot, sys, version; print(version.VERSION, sys.path[0])"


@pytest.fixture
def dev(tmp_path):
    """A device directory with 0.1.0 in slot_a and 0.2.0 in slot_b."""
    d = device.assemble(tmp_path / "dev", "sim")
    shutil.copytree(d / "slot_a", d / "slot_b")
    (d / "slot_b" / "version.py").write_text('VERSION = "0.2.0"\n')
    return d


def run(dev, code=PROBE):
    return subprocess.run([simtool.micropython_exe(), "-c", code], cwd=dev, capture_output=True, text=True,
                          timeout=30)


def probe(dev):
    out = run(dev)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.strip().splitlines()[-1].split()


def slots(dev):
    return json.loads((dev / "slots.json").read_text())


def set_slots(dev, state):
    (dev / "slots.json").write_text(json.dumps(state))


def trial(dev):
    set_slots(dev, {"active": "slot_b", "previous": "slot_a", "version": "0.2.0", "trial_boots": 0})


def test_assemble_puts_the_app_in_slot_a_and_the_loaders_at_the_root(tmp_path):
    d = device.assemble(tmp_path / "dev", "sim")
    (d / "config.json").write_text("{}")
    d = device.assemble(d, "sim")  # again: keeps the settings, resets the slots
    assert sorted(p.name for p in d.iterdir()) == ["board.json", "boot.py", "config.json", "main.py", "slot_a",
                                                    "slots.json"]
    assert (d / "slot_a" / "evse" / "kernel.py").is_file() and (d / "slot_a" / "lib" / "microdot").is_dir()
    assert not (d / "slot_a" / "boot.py").exists()
    assert slots(d) == {"active": "slot_a"}
    assert probe(d) == ["0.1.0", "slot_a"]


def test_without_slots_json_slot_a_runs(dev):
    (dev / "slots.json").unlink()
    assert probe(dev) == ["0.1.0", "slot_a"]
    assert not (dev / "slots.json").exists()  # nothing written on an ordinary boot


def test_a_confirmed_slot_runs_every_boot(dev):
    set_slots(dev, {"active": "slot_b"})
    for _ in range(3):
        assert probe(dev) == ["0.2.0", "slot_b"]
    assert slots(dev) == {"active": "slot_b"}


def test_a_trial_boots_once_then_rolls_back_unless_confirmed(dev):
    trial(dev)
    assert probe(dev) == ["0.2.0", "slot_b"]
    assert slots(dev)["trial_boots"] == 1
    assert probe(dev) == ["0.1.0", "slot_a"]  # never confirmed: the old version again
    assert slots(dev) == {"active": "slot_a", "rolled_back": "0.2.0"}
    assert probe(dev) == ["0.1.0", "slot_a"]


def test_a_trial_that_cannot_be_counted_is_not_started(dev):
    trial(dev)
    (dev / "slots.json.tmp").mkdir()  # the loader's write fails, as on a full flash
    out = run(dev)
    assert out.stdout.split()[-2:] == ["0.1.0", "slot_a"]
    assert "writing slots.json failed" in out.stdout
    assert slots(dev)["trial_boots"] == 0


def test_a_missing_or_unknown_slot_falls_back_to_the_one_present(dev):
    set_slots(dev, {"active": "slot_b"})
    shutil.rmtree(dev / "slot_b")
    assert probe(dev) == ["0.1.0", "slot_a"]
    set_slots(dev, {"active": "../elsewhere"})
    assert probe(dev) == ["0.1.0", "slot_a"]
    (dev / "slots.json").write_text("{torn")
    out = run(dev)
    assert out.stdout.split()[-2:] == ["0.1.0", "slot_a"] and "reading slots.json failed" in out.stdout


def break_slot_b(dev):
    (dev / "slot_b" / "app" / "runtime.py").write_text('raise RuntimeError("broken build")\n')


def test_a_trial_version_that_crashes_on_import_asks_for_a_restart_and_is_rolled_back(dev):
    break_slot_b(dev)
    trial(dev)
    out = run(dev, "import boot, main")
    assert out.returncode == simtool.RESTART_EXIT_CODE, out.stdout + out.stderr
    assert "broken build" in out.stdout + out.stderr
    assert probe(dev) == ["0.1.0", "slot_a"]  # the restart the simulator does
    assert slots(dev)["rolled_back"] == "0.2.0"


def test_a_crash_outside_a_trial_ends_the_simulator_with_its_traceback(dev):
    break_slot_b(dev)
    set_slots(dev, {"active": "slot_b"})
    out = run(dev, "import boot, main")
    assert out.returncode == 1
    assert "broken build" in out.stdout + out.stderr


class FakeMachine:
    """Records what boot.py drives: pin levels and the watchdog."""

    writes = []
    watchdog_ms = []

    class Pin:
        OUT = 3
        IN = 1

        def __init__(self, pin, mode=None, value=None):
            if mode == self.OUT and value is not None:
                FakeMachine.writes.append((pin, value))

    @staticmethod
    def WDT(timeout):
        FakeMachine.watchdog_ms.append(timeout)


def boot_esp32(tmp_path, slots_state=None):
    """boot.py on a flash with the loaders and the ESP32 board file but no loadable app."""
    d = tmp_path / "dev"
    d.mkdir()
    for name in ("boot.py", "main.py"):
        shutil.copyfile(paths.firmware_dir() / name, d / name)
    shutil.copyfile(paths.board_file("esp32-devkit"), d / "board.json")
    if slots_state:
        (d / "slot_a").mkdir()
        (d / "slot_b").mkdir()
        set_slots(d, slots_state)
    code = ("import sys, json; sys.path.insert(0, '.'); sys.path.insert(0, %r); import test_slots;"
            "sys.modules['machine'] = test_slots.FakeMachine; import boot; F = test_slots.FakeMachine;"
            "print(json.dumps([F.writes, F.watchdog_ms]))") % str(Path(__file__).parent)
    out = subprocess.run([sys.executable, "-c", code], cwd=d, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    writes, watchdog = json.loads(out.stdout.strip().splitlines()[-1])
    return out.stdout, dict(writes), watchdog


def test_on_an_esp32_board_the_outputs_are_safe_before_any_slot_is_looked_at(tmp_path):
    out, writes, watchdog = boot_esp32(tmp_path)
    board = json.loads(paths.board_file("esp32-devkit").read_text())
    assert writes[board["relay"]["pin"]] == 0  # contactor open
    assert writes[board["cp"]["pwm_pin"]] == 1  # CP steady +12 V: nothing offered
    assert writes[board["lock"]["lock_pin"]] == 0 and writes[board["lock"]["unlock_pin"]] == 0
    assert writes[board["rcm"]["test_pin"]] == 0
    assert "board adapter failed" in out  # no app to load: reported, the pins already safe
    assert watchdog == []  # an ordinary boot leaves the watchdog to the runtime


def test_an_esp32_trial_boot_arms_the_watchdog_so_a_hanging_version_is_reset(tmp_path):
    out, writes, watchdog = boot_esp32(tmp_path, {"active": "slot_b", "previous": "slot_a", "version": "0.2.0"})
    assert watchdog == [150000]
    assert writes  # the pins first, all the same


# -- a board with a romfs partition: the slots are ROM images there -------------------


@pytest.fixture
def rom_dev(tmp_path):
    """A device whose romfs partition holds 0.1.0 in slot_a and 0.2.0 in slot_b."""
    d = device.assemble(tmp_path / "dev", "sim", rom=True)
    partition = bytearray((d / device.ROM_PARTITION).read_bytes())
    partition[romfs.SLOT_SIZE:] = romfs.partition(slot_image(tmp_path, "0.2.0"))[:romfs.SLOT_SIZE]
    (d / device.ROM_PARTITION).write_bytes(bytes(partition))
    return d


def slot_image(tmp_path, version):
    """The app compiled as a ROM image, its version.mpy saying ``version``."""
    built = device.assemble(tmp_path / ("files-" + version), "sim", precompile=True) / "slot_a"
    src = tmp_path / "version.py"
    src.write_text('VERSION = "%s"\n' % version)
    device.compile_mpy(src, built / "version.mpy")
    return romfs.image_of(built)


def rom_probe(dev):
    out = subprocess.run([sys.executable, "-m", "evsectl.romfs", device.ROM_PARTITION, "-c", PROBE], cwd=dev,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.strip().splitlines()[-1].split()


def erase_header(dev, index):
    with open(dev / device.ROM_PARTITION, "r+b") as f:
        f.seek(index * romfs.SLOT_SIZE)
        f.write(b"\xff" * 16)


def test_the_active_slots_rom_image_is_mounted_at_rom(rom_dev):
    assert not (rom_dev / "slot_a").exists()
    assert rom_probe(rom_dev) == ["0.1.0", "/rom"]
    set_slots(rom_dev, {"active": "slot_b"})
    assert rom_probe(rom_dev) == ["0.2.0", "/rom"]


def test_a_trial_in_rom_is_rolled_back_like_one_in_a_directory(rom_dev):
    trial(rom_dev)
    assert rom_probe(rom_dev) == ["0.2.0", "/rom"]
    assert rom_probe(rom_dev) == ["0.1.0", "/rom"]
    assert slots(rom_dev) == {"active": "slot_a", "rolled_back": "0.2.0"}


def test_an_erased_rom_slot_gives_way_to_the_other(rom_dev):
    set_slots(rom_dev, {"active": "slot_b"})
    erase_header(rom_dev, 1)  # as OTA leaves a slot it did not finish writing
    assert rom_probe(rom_dev) == ["0.1.0", "/rom"]


def test_a_slot_with_no_rom_image_runs_from_its_directory(rom_dev):
    erase_header(rom_dev, 0)
    erase_header(rom_dev, 1)
    files = device.assemble(rom_dev.parent / "files", "sim")
    shutil.copytree(files / "slot_a", rom_dev / "slot_a")
    assert rom_probe(rom_dev) == ["0.1.0", "slot_a"]
