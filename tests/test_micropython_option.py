"""``--micropython PATH`` and $EVSECTL_MICROPYTHON run the firmware on any
MicroPython unix binary: here the 32-bit one, app in ROM and from files."""

import json

import pytest

import micropython32
from evsectl import bench, romheap, sim as simtool
from evsectl.errors import UserError


@pytest.mark.parametrize("layout", [("--mpy",), ("--romfs",)], ids=["files", "romfs"])
def test_the_simulator_runs_on_the_32_bit_binary_and_serves_every_endpoint(sim_factory, layout):
    sim = sim_factory(extra=("--micropython", micropython32.exe(), "--heapsize", "160k", *layout))
    c = sim.client
    answers = [c.get("/webapi/v1/" + name) for name in bench.ENDPOINTS_GET]
    answers += [c.post(path, body) for path, body in bench.ENDPOINTS_POST]
    for r in answers:
        assert r.status == 200 and isinstance(json.loads(r.body), dict), r
    assert "MemoryError" not in sim.output()
    if layout == ("--romfs",):
        # The image is in this binary's heap (evsectl.romheap); beside it the
        # app takes what it takes on 32-bit (the 64-bit port: some 85 KB).
        used = int(sim.output().split("heap free ")[1].split(" used ")[1].split()[0]) - romheap.HEAP_BYTES
        assert 0 < used < 72 * 1024  # the boot heap on 32-bit (docs/ota.md): 66.5 KiB with the charger interface


def test_the_environment_variable_chooses_the_binary_and_the_option_wins(monkeypatch, tmp_path):
    exe = micropython32.exe()
    monkeypatch.setenv(simtool.ENV_MICROPYTHON, exe)
    assert simtool.command("micropython")[0] == exe
    assert simtool.command("micropython", rom=True)[0] == exe  # the image in its heap: evsectl.romheap
    other = tmp_path / "my-micropython"
    other.write_bytes(b"")
    other.chmod(0o755)
    assert simtool.command("micropython", micropython=str(other))[0] == str(other)


def test_a_missing_binary_is_an_error_not_the_default(monkeypatch):
    monkeypatch.setenv(simtool.ENV_MICROPYTHON, "/nonexistent/micropython")
    with pytest.raises(UserError, match="EVSECTL_MICROPYTHON"):
        simtool.command("micropython")
