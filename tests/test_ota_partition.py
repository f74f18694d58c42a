"""The full-firmware update path (firmware/hal/partition_esp32.py): its own
logic under CPython on a fake ``esp32.Partition`` (no ESP32 emulator exists
here: the fake is a RAM "flash" of whole blocks), and the type check that
holds its ``esp32`` calls to the port's stubs."""

import hashlib
import importlib
import importlib.util
import sys
import types
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = 4096


class FakePartition:
    """Two OTA app partitions in RAM; writeblocks takes whole blocks, as the
    first form on the port does (erasing them first)."""

    RUNNING = 1
    BOOT = 0
    partitions = {}
    boot = None
    valid = False
    corrupt_block = None  # flash that does not keep what was written

    def __init__(self, which, block_size=BLOCK):
        self.label = "ota_0" if which == self.RUNNING else which

    def info(self):
        return (0, 16, 0x10000, len(self.partitions[self.label]), self.label, False)

    def get_next_update(self):
        return FakePartition("ota_1")

    def writeblocks(self, block, buf):
        assert len(buf) % BLOCK == 0
        flash = self.partitions[self.label]
        flash[block * BLOCK:(block * BLOCK) + len(buf)] = buf
        if block == FakePartition.corrupt_block:
            flash[block * BLOCK] ^= 0xFF

    def readblocks(self, block, buf):
        buf[:] = self.partitions[self.label][block * BLOCK:block * BLOCK + len(buf)]

    def set_boot(self):
        FakePartition.boot = self.label

    @classmethod
    def mark_app_valid_cancel_rollback(cls):
        cls.valid = True


@pytest.fixture
def part(monkeypatch):
    FakePartition.partitions = {"ota_0": bytearray(b"\x00" * 16 * BLOCK), "ota_1": bytearray(b"\x00" * 16 * BLOCK)}
    FakePartition.boot = None
    FakePartition.valid = False
    FakePartition.corrupt_block = None
    monkeypatch.setitem(sys.modules, "esp32", types.SimpleNamespace(Partition=FakePartition))
    monkeypatch.syspath_prepend(str(ROOT / "firmware"))
    sys.modules.pop("hal.partition_esp32", None)
    return importlib.import_module("hal.partition_esp32")


def image(size):
    return bytes((i * 7 + i // 251) % 256 for i in range(size))


def write_in_odd_chunks(writer, data):
    for start in range(0, len(data), 1000):
        writer.write(data[start:start + 1000])


def test_an_image_is_written_into_the_other_partition_and_booted_next(part):
    data = image(3 * BLOCK + 123)
    w = part.ImageWriter(len(data))
    write_in_odd_chunks(w, data)
    w.finish(hashlib.sha256(data).digest())
    flash = FakePartition.partitions["ota_1"]
    assert flash[:len(data)] == data
    assert flash[len(data):4 * BLOCK] == b"\xff" * (4 * BLOCK - len(data))  # the last block, padded as erased
    assert FakePartition.partitions["ota_0"] == bytearray(16 * BLOCK)  # the running one untouched
    assert FakePartition.boot == "ota_1"
    assert part.running_label() == "ota_0"
    part.confirm()
    assert FakePartition.valid


@pytest.mark.parametrize("problem, match", [
    ("hash", "SHA-256 mismatch in the received image"),
    ("short", "got 4000 of 5000 bytes"),
    ("readback", "reads back wrong"),
])
def test_a_bad_image_is_never_booted(part, problem, match):
    data = image(5000)
    w = part.ImageWriter(len(data))
    if problem == "readback":
        FakePartition.corrupt_block = 1
    w.write(data[:4000] if problem == "short" else data)
    digest = hashlib.sha256(data if problem != "hash" else data + b"x").digest()
    with pytest.raises(part.ImageError, match=match):
        w.finish(digest)
    assert FakePartition.boot is None


def test_an_image_too_big_for_the_partition_or_longer_than_announced_is_refused(part):
    with pytest.raises(part.ImageError, match="partition ota_1 holds"):
        part.ImageWriter(17 * BLOCK)
    w = part.ImageWriter(10)
    with pytest.raises(part.ImageError, match="more data than the announced 10 bytes"):
        w.write(b"x" * 11)


def _typecheck_tool():
    spec = importlib.util.spec_from_file_location("typecheck_esp32", ROOT / "tools" / "typecheck_esp32.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stubs_installed():
    try:
        metadata.distribution("micropython-esp32-esp32-generic-stubs")
        return importlib.util.find_spec("mypy") is not None
    except metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(not _stubs_installed(), reason="mypy and micropython-esp32-esp32-generic-stubs not installed")
@pytest.mark.parametrize("right, wrong, complaint", [
    ("self.target.set_boot()", "self.target.set_bootx()", 'has no attribute "set_bootx"'),
    ("esp32.Partition.mark_app_valid_cancel_rollback()", "esp32.Partition.mark_app_valid()",
     'has no attribute "mark_app_valid"'),
    ("running.get_next_update()", "running.next_update()", 'has no attribute "next_update"'),
])
def test_the_adapter_is_held_to_the_esp32_stubs(tmp_path, right, wrong, complaint):
    tool = _typecheck_tool()
    text = (ROOT / "firmware" / "hal" / "partition_esp32.py").read_text()
    assert right in text
    broken = tmp_path / "broken_partition_esp32.py"
    broken.write_text(text.replace(right, wrong))
    status, output = tool.check([broken])
    assert status != 0 and complaint in output, output
