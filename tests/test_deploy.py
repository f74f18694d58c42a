"""``evsectl deploy`` and ``evsectl console`` with real mpremote, against the
MicroPython unix port's REPL on a pty (evsectl.replboard): the deployed flash
boots the firmware, which serves the WebAPI."""

import contextlib
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
import tty

import pytest

from app import password
from evsectl import build, console, device, romfs, sim
from evsectl.replboard import ReplDevice
from simclient import SimClient, free_port

NO_PORT = "/dev/ttyUSB-evsectl-test"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return build.build("sim", tmp_path_factory.mktemp("dist"))


@pytest.fixture
def board(tmp_path):
    (tmp_path / "flash").mkdir()
    device = ReplDevice(tmp_path / "flash")
    yield device
    device.stop()


def evsectl(*args):
    return subprocess.run([sys.executable, "-m", "evsectl", *args], capture_output=True, text=True, timeout=120)


def deploy(board, *args):
    resets = board.hard_resets
    done = evsectl("deploy", "--port", board.port, "--board", "sim", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    board.wait_for_hard_resets(resets + 1)  # deploy ends by resetting the board
    return done.stdout.splitlines()[-1]


def files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def rom_board(tmp_path):
    """A board with a romfs partition (``romfs.bin`` beside its flash), holding something old."""
    (tmp_path / "flash").mkdir()
    partition = tmp_path / "flash" / device.ROM_PARTITION
    partition.write_bytes(romfs.partition(romfs.image({"old.mpy": b"an older app"})))
    board = ReplDevice(tmp_path / "flash", rom_partition=partition)
    yield board
    board.stop()


@contextlib.contextmanager
def app(flash, tmp_path, rom=False):
    """The deployed flash running, started the way the simulator starts it."""
    port = free_port()
    settings = {"port": port, "host": "127.0.0.1", "virtual_time": True, "state_file": str(tmp_path / "vehicle.json")}
    (flash / "sim.json").write_text(json.dumps(settings))
    log = open(tmp_path / "app.log", "w")
    proc = subprocess.Popen(sim.command("micropython", rom=rom), cwd=flash, stdout=log, stderr=subprocess.STDOUT)
    try:
        client = SimClient("http://127.0.0.1:%d" % port)
        client.wait_ready(20, proc)
        yield client
    finally:
        proc.terminate()
        proc.wait(5)
        log.close()


def test_deploy_brings_the_flash_to_the_bundle_and_the_app_serves(board, bundle, tmp_path):
    flash = tmp_path / "flash"
    stale = {
        "slot_a/evse/retired.mpy": b"from an older version",
        "slot_b/app/runtime.mpy": b"an OTA download",
        "slots.json": b'{"active": "slot_b", "previous": "slot_a", "trial_boots": 1}',
        "config.json": b'{"ChargeCurrent": 10}',  # the owner's setting
        "notes.txt": b"not ours",
    }
    for rel, data in stale.items():
        (flash / rel).parent.mkdir(parents=True, exist_ok=True)
        (flash / rel).write_bytes(data)

    summary = deploy(board)  # builds its own bundle

    shipped = files(bundle)
    del shipped[build.ROM_IMAGE]  # this board has no romfs partition: it gets the files
    assert summary.endswith(": %d files copied, 2 files removed; the board restarts" % (len(shipped) + 1))
    expected = {(rel if rel in ("boot.py", "main.py", "board.json") else "slot_a/" + rel): data
                for rel, data in shipped.items()}
    expected.update({"slots.json": b'{"active": "slot_a"}', "config.json": stale["config.json"],
                     "notes.txt": stale["notes.txt"]})
    assert files(flash) == expected
    assert not (flash / "slot_b").exists()
    assert board.hard_resets == 1

    with app(flash, tmp_path) as charger:
        assert charger.status()["SystemVersion"] == build.firmware_version()
        assert charger.ok(charger.get("/webapi/v1/SystemConfig"))["ChargeCurrent"] == 10

    assert deploy(board, "--bundle", str(bundle)).endswith(": 0 files copied, 0 files removed; the board restarts")
    assert board.hard_resets == 2


def test_on_a_board_with_a_romfs_partition_the_app_goes_into_rom_slot_a(rom_board, bundle, tmp_path):
    flash = tmp_path / "flash"
    (flash / "slot_a" / "evse").mkdir(parents=True)
    (flash / "slot_a" / "evse" / "kernel.mpy").write_bytes(b"from a deploy without romfs")

    summary = deploy(rom_board, "--bundle", str(bundle))

    image = (bundle / build.ROM_IMAGE).read_bytes()
    partition = (flash / device.ROM_PARTITION).read_bytes()
    assert partition[:len(image)] == image
    assert sorted(p.name for p in flash.iterdir()) == ["board.json", "boot.py", "main.py", "romfs.bin", "slots.json"]
    assert summary.endswith(": 5 files copied, 1 file removed; the board restarts")  # the image + 4 at the root
    with app(flash, tmp_path, rom=True) as charger:
        assert charger.status()["SystemVersion"] == build.firmware_version()

    assert deploy(rom_board, "--bundle", str(bundle)).endswith(": 0 files copied, 0 files removed; the board restarts")


def test_settings_are_stored_as_the_firmware_stores_them(board, bundle, tmp_path):
    flash = tmp_path / "flash"
    options = ("--bundle", str(bundle), "--wifi", "Home Net:secret123", "--admin-password", "hunter22")
    deploy(board, *options)

    stored = json.loads((flash / "config.json").read_text())
    assert (stored["WiFiSSID"], stored["WiFiPassword"]) == ("Home Net", "secret123")
    assert password.check("hunter22", stored["AdminPasswordHash"])
    assert not [rel for rel, data in files(flash).items() if b"hunter22" in data]
    with app(flash, tmp_path) as charger:
        config = charger.ok(charger.get("/webapi/v1/SystemConfig"))
        assert (config["WiFiSSID"], config["WiFiPasswordSet"], config["AdminPasswordSet"]) == ("Home Net", True, True)
        assert charger.post("/webapi/v1/SystemConfig", {"ChargeCurrent": 10}).status == 401
        charger.ok(charger.post("/webapi/v1/SystemConfig", {"ChargeCurrent": 10}, auth=("admin", "hunter22")))

    # The same settings again: nothing to write, and what the owner set since stays.
    assert deploy(board, *options).endswith(": 0 files copied, 0 files removed; the board restarts")
    assert json.loads((flash / "config.json").read_text())["ChargeCurrent"] == 10


def test_the_ota_key_goes_to_the_flash_root_and_stays(board, bundle, tmp_path):
    key = tmp_path / "ota_pubkey.json"
    key.write_text(json.dumps({"n": "c3" * 384, "e": 65537}) + "\n")
    deploy(board, "--bundle", str(bundle), "--ota-key", str(key))
    assert (tmp_path / "flash" / "ota_pubkey.json").read_bytes() == key.read_bytes()
    assert deploy(board, "--bundle", str(bundle)).endswith(": 0 files copied, 0 files removed; the board restarts")
    assert (tmp_path / "flash" / "ota_pubkey.json").read_bytes() == key.read_bytes()

    private = tmp_path / "ota_signing_key.pem"  # the other file keygen writes: never onto a charger
    private.write_text("-----BEGIN PRIVATE KEY-----\n")
    done = evsectl("deploy", "--port", board.port, "--board", "sim", "--bundle", str(bundle), "--ota-key", str(private))
    assert (done.returncode, done.stderr) == (
        2, "evsectl deploy: %s is not an OTA public key (ota_pubkey.json, from evsectl ota keygen)\n" % private)
    assert board.soft_reboots == 2  # the two deploys above, not this one


@pytest.mark.parametrize("options, message", [
    (["--wifi", "Home Net"], "--wifi takes SSID:PASSWORD (an empty PASSWORD for an open network)"),
    (["--wifi", "Home Net:short"], "WiFiPassword must be 8 to 63 characters long"),
    (["--admin-password", "abc"], "AdminPassword must be 4 to 64 characters long"),
])
def test_bad_settings_are_refused_before_the_board_is_touched(board, tmp_path, options, message):
    done = evsectl("deploy", "--port", board.port, "--board", "sim", *options)
    assert (done.returncode, done.stderr) == (2, "evsectl deploy: %s\n" % message)
    assert board.soft_reboots == 0 and files(tmp_path / "flash") == {}


def test_a_bundle_that_does_not_fit_is_refused(board, bundle, tmp_path):
    copy = tmp_path / bundle.name
    shutil.copytree(bundle, copy)
    done = evsectl("deploy", "--port", board.port, "--board", "esp32-devkit", "--bundle", str(copy))
    assert done.stderr == "evsectl deploy: %s is built for board 'sim', not 'esp32-devkit'\n" % copy
    (copy / "evse" / "kernel.mpy").write_bytes(b"tampered")
    done = evsectl("deploy", "--port", board.port, "--board", "sim", "--bundle", str(copy))
    assert done.stderr == "evsectl deploy: %s does not match its manifest; build it again\n" % copy
    assert board.soft_reboots == 0 and files(tmp_path / "flash") == {}


def test_a_port_that_is_not_there_is_a_one_line_error(bundle):
    done = evsectl("deploy", "--port", NO_PORT, "--board", "sim")
    assert (done.returncode, done.stderr) == (2, "evsectl deploy: no serial port %s (is the board plugged in?)\n" % NO_PORT)
    port = "socket://127.0.0.1:%d" % free_port()  # pyserial's network port, with nothing listening
    done = evsectl("deploy", "--port", port, "--board", "sim", "--bundle", str(bundle))
    assert (done.returncode, done.stderr) == (
        2, "evsectl deploy: cannot open %s (is the board plugged in, and no other program using the port?)\n" % port)


def test_console_is_the_mpremote_repl(board):
    assert console.command(board.port) == [sys.executable, "-m", "mpremote", "connect", board.port, "repl"]
    terminal, end = pty.openpty()
    tty.setraw(end)
    proc = subprocess.Popen([sys.executable, "-m", "evsectl", "console", "--port", board.port],
                            stdin=end, stdout=end, stderr=end)
    os.close(end)
    try:
        read_until(terminal, b"Ctrl-]")  # mpremote's greeting
        os.write(terminal, b'print("con" + "sole")\r')
        read_until(terminal, b"console")
        os.write(terminal, b"\x1d")  # Ctrl-]: leave the console
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(terminal)


def read_until(fd, text, timeout=20):
    seen = b""
    deadline = time.monotonic() + timeout
    while text not in seen:
        assert time.monotonic() < deadline, seen
        if select.select([fd], [], [], 0.1)[0]:
            seen += os.read(fd, 4096)
    return seen


def test_console_needs_a_port_that_is_there():
    done = evsectl("console", "--port", NO_PORT)
    assert (done.returncode, done.stderr) == (2, "evsectl console: no serial port %s (is the board plugged in?)\n" % NO_PORT)
    done = evsectl("console")
    assert done.returncode == 2 and "--port" in done.stderr
