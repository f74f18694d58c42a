"""``evsectl flash`` against esp32-mock-bootloader, a mock ESP32 ROM bootloader
on a ``socket://`` port that keeps its flash in memory for as long as it runs.

The mock answers esptool's real protocol (sync, chip detection, stub upload,
erase, compressed writes, MD5). The flash is read back with the ROM loader
(``--no-stub``): in esp32-mock-bootloader 0.3.0 the stub's streaming read
stalls before its final digest and esptool gives up on it."""

import hashlib
import os
import subprocess
import sys
import time

import pytest
from esptool.bin_image import ESP32FirmwareImage, ESP32S3FirmwareImage, ELFSection

from evsectl import partitions
from simclient import free_port

MARKER_AT = 0x200000  # somewhere a MicroPython image does not reach
MARKER = b"old flash content"


class MockBootloader:
    def __init__(self, tmp_path, chip):
        self.chip = chip
        port_file = tmp_path / ("mock-%s.port" % chip)
        env = dict(os.environ, ESP32_MOCK_BOOTLOADER_STATE_DIR=str(tmp_path / "mock-state"))
        # --timeout: a mock left behind by a crashed test still goes away.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "esp32_mock_bootloader.cli", "run", "--port", "0", "--port-file", str(port_file),
             "--chip", chip, "--timeout", "120"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 10
        while not (port_file.exists() and port_file.read_text().strip()):
            assert self.proc.poll() is None and time.monotonic() < deadline, "mock bootloader did not start"
            time.sleep(0.02)
        self.url = "socket://127.0.0.1:%s" % port_file.read_text().strip()

    def esptool(self, *args):
        cmd = [sys.executable, "-m", "esptool", "--chip", self.chip, "--no-stub", "--port", self.url, *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr

    def write(self, tmp_path, address, data):
        path = tmp_path / "seed.bin"
        path.write_bytes(data)
        self.esptool("write-flash", hex(address), str(path))

    def read(self, tmp_path, address, size):
        path = tmp_path / "readback.bin"
        self.esptool("read-flash", hex(address), str(size), str(path))
        return path.read_bytes()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


@pytest.fixture
def mock_esp32(tmp_path):
    mock = MockBootloader(tmp_path, "esp32")
    yield mock
    mock.stop()


def image(path, cls=ESP32FirmwareImage, load_addr=0x3FFB0000):
    """A small but well-formed image (header, one segment, checksum, SHA-256)."""
    img = cls()
    img.entrypoint = 0x40080000
    img.segments = [ELFSection(b".dram0.data", load_addr, bytes(range(256)) * 24, 0)]
    img.save(str(path))
    return path


def evsectl_flash(port, firmware):
    return subprocess.run([sys.executable, "-m", "evsectl", "flash", "--port", port, "--firmware", str(firmware)],
                          capture_output=True, text=True, timeout=60)


def test_erases_writes_at_0x1000_and_verifies(mock_esp32, tmp_path):
    mock_esp32.write(tmp_path, MARKER_AT, MARKER)
    firmware = image(tmp_path / "micropython.bin")
    done = evsectl_flash(mock_esp32.url, firmware)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Writing at" in done.stdout  # esptool's progress reaches the owner
    assert "Verification successful" in done.stdout
    data = firmware.read_bytes()
    assert mock_esp32.read(tmp_path, 0x1000, len(data)) == data
    assert mock_esp32.read(tmp_path, MARKER_AT, len(MARKER)) == b"\xff" * len(MARKER)  # erased


def test_a_chip_other_than_the_esp32_is_refused_untouched(tmp_path):
    mock = MockBootloader(tmp_path, "esp32s3")
    try:
        mock.write(tmp_path, MARKER_AT, MARKER)
        done = evsectl_flash(mock.url, image(tmp_path / "micropython.bin"))
        assert done.returncode == 2
        assert done.stderr == "evsectl flash: the chip on %s is an ESP32-S3, not an ESP32\n" % mock.url
        assert mock.read(tmp_path, MARKER_AT, len(MARKER)) == MARKER
    finally:
        mock.stop()


def test_a_wrong_file_is_refused_before_anything_is_erased(mock_esp32, tmp_path):
    mock_esp32.write(tmp_path, MARKER_AT, MARKER)
    missing = tmp_path / "missing.bin"
    elf = tmp_path / "micropython.elf"
    elf.write_bytes(b"\x7fELF" + bytes(100))
    s3 = image(tmp_path / "esp32s3.bin", ESP32S3FirmwareImage, 0x3FC90000)
    for firmware, message in [
        (missing, "cannot read %s: No such file or directory" % missing),
        (elf, "%s is not an ESP32 firmware image (Invalid firmware image magic=0x7f)" % elf),
        (s3, "%s is an image for the ESP32-S3, not the ESP32" % s3),
    ]:
        done = evsectl_flash(mock_esp32.url, firmware)
        assert (done.returncode, done.stderr) == (2, "evsectl flash: %s\n" % message)
    assert mock_esp32.read(tmp_path, MARKER_AT, len(MARKER)) == MARKER


@pytest.mark.parametrize("port", ["socket://127.0.0.1:{free}", "/dev/ttyUSB-evsectl-test"])
def test_a_port_that_is_not_there_is_a_one_line_error(tmp_path, port):
    port = port.format(free=free_port())
    done = evsectl_flash(port, image(tmp_path / "micropython.bin"))
    assert done.returncode == 2
    assert done.stderr.startswith("evsectl flash: ") and done.stderr.count("\n") == 1, done.stderr
    assert port in done.stderr


# -- the romfs partition ---------------------------------------------------------------

# MicroPython's generic 4 MiB table (ports/esp32/partitions-4MiB.csv).
GENERIC_TABLE = [
    (1, 0x02, 0x9000, 0x6000, "nvs", 0),
    (1, 0x01, 0xF000, 0x1000, "phy_init", 0),
    (0, 0x00, 0x10000, 0x1F0000, "factory", 0),
    (1, 0x81, 0x200000, 0x200000, "vfs", 0),
]


def firmware_with_table(tmp_path, table):
    """Bootloader, partition table at +0x7000, an "app" at +0xF000: the shape of a micropython.org image."""
    boot = image(tmp_path / "boot.bin").read_bytes()
    data = boot + b"\xff" * (partitions.TABLE_AT - len(boot)) + partitions.pack(table)
    data += b"\xff" * (0xF000 - len(data)) + bytes(range(256)) * 16
    path = tmp_path / "micropython.bin"
    path.write_bytes(data)
    return path


def test_the_written_table_has_a_romfs_partition_cut_from_the_filesystem(mock_esp32, tmp_path):
    firmware = firmware_with_table(tmp_path, GENERIC_TABLE)
    done = evsectl_flash(mock_esp32.url, firmware)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "evsectl flash: the image's partition table was rewritten: a 512 KiB romfs partition" in done.stdout
    table = mock_esp32.read(tmp_path, 0x8000, partitions.TABLE_SIZE)
    assert partitions.read(table) == GENERIC_TABLE[:3] + [
        (1, 0x81, 0x200000, 0x180000, "vfs", 0),
        (1, 0x8F, 0x380000, 0x80000, "romfs", 0),
    ]
    entries = table[:5 * 32]
    md5 = table[5 * 32:6 * 32]
    assert md5[:2] == b"\xeb\xeb" and md5[16:] == hashlib.md5(entries).digest()  # what the bootloader checks
    assert set(table[6 * 32:]) == {0xFF}
    rest = firmware.read_bytes()[0xF000:]
    assert mock_esp32.read(tmp_path, 0x10000, len(rest)) == rest  # the app itself untouched


def test_no_romfs_writes_the_image_as_it_is(mock_esp32, tmp_path):
    firmware = firmware_with_table(tmp_path, GENERIC_TABLE)
    done = subprocess.run([sys.executable, "-m", "evsectl", "flash", "--port", mock_esp32.url, "--firmware",
                           str(firmware), "--no-romfs"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "partition table" not in done.stdout
    data = firmware.read_bytes()
    assert mock_esp32.read(tmp_path, 0x1000, len(data)) == data


def test_a_table_with_romfs_already_is_kept_and_one_without_room_is_refused_untouched(mock_esp32, tmp_path):
    has = GENERIC_TABLE[:3] + [(1, 0x81, 0x200000, 0x100000, "vfs", 0), (1, 0x8F, 0x300000, 0x100000, "romfs", 0)]
    data = firmware_with_table(tmp_path, has).read_bytes()
    assert partitions.with_romfs(data) == data

    mock_esp32.write(tmp_path, MARKER_AT, MARKER)
    small = GENERIC_TABLE[:3] + [(1, 0x81, 0x200000, 0x100000, "vfs", 0)]
    firmware = firmware_with_table(tmp_path, small)
    done = evsectl_flash(mock_esp32.url, firmware)
    assert done.returncode == 2
    assert done.stderr == ("evsectl flash: %s: the vfs partition (1024 KiB) is too small to give 512 KiB to romfs "
                           "(--no-romfs writes it unchanged)\n" % firmware)
    assert mock_esp32.read(tmp_path, MARKER_AT, len(MARKER)) == MARKER
