"""What the OTA tests share: keys, signed bundles, an update server, and a
simulated charger that trusts the keys and asks that server."""

import contextlib
import importlib.util
import io
import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from evsectl import build, device, ota, paths
from simclient import DOWN


def _sim_process_class():
    """tests/conftest.py's SimProcess. Imported by path: under the whole suite
    the module name "conftest" may belong to tests/kernel/conftest.py."""
    spec = importlib.util.spec_from_file_location("ota_tests_conftest", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SimProcess


SimProcess = _sim_process_class()


def make_keys(where):
    return ota.keygen(where, bits=2048)  # the device's check is the same for any size; 2048 generates fast


@pytest.fixture
def started():
    """``started(sim)``: start a simulated charger, stopped after the test."""
    procs = []

    def start(sim):
        procs.append(sim)
        return sim.start()

    yield start
    for sim in procs:
        sim.stop()


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    """(private key file, device key file)."""
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """One unsigned bundle for the simulated board, built once: the others are made from it."""
    return build.build("sim", tmp_path_factory.mktemp("built"), version="0.2.0")


def make_bundle(built, out, version, key=None, board="sim"):
    """A copy of ``built`` that says ``version`` (and is for ``board``), signed
    with ``key`` if given: what ``evsectl build`` and ``sign`` would make,
    without compiling everything again."""
    bundle = Path(out) / build.bundle_name(version, board)
    shutil.copytree(built, bundle)
    (bundle / build.SIGNATURE).unlink(missing_ok=True)
    (bundle / "version.mpy").write_bytes(compiled(Path(out), "VERSION = %s\n" % json.dumps(version)))
    shutil.copyfile(paths.board_file(board), bundle / "board.json")
    build.write_rom_image(bundle)
    build.write_manifest(bundle, version, board)
    if key:
        ota.sign(bundle, key)
    return bundle


def rewrite(bundle, key, changes):
    """Change files of a bundle ({path: bytes}), then re-make and re-sign its manifest."""
    for rel, data in changes.items():
        (bundle / rel).write_bytes(data)
    if build.ROM_IMAGE not in changes:
        build.write_rom_image(bundle)
    manifest = build.load_manifest(bundle)
    build.write_manifest(bundle, manifest["version"], manifest["board"])
    ota.sign(bundle, key)


def compiled(scratch, source):
    """``source`` compiled with mpy-cross."""
    src = scratch / "compiled.py"
    src.write_text(source)
    dst = scratch / "compiled.mpy"
    device.compile_mpy(src, dst)
    data = dst.read_bytes()
    src.unlink()
    dst.unlink()
    return data


@contextlib.contextmanager
def update_server(root=None, bundle=None, handler=None):
    server = ota.UpdateServer(("127.0.0.1", 0), root=root, bundle=bundle, quiet=True, out=io.StringIO(),
                              handler=handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def charger(tmp_path, public_key=None, server=None, name="dev", config=None, rom=False):
    """A simulated charger (MicroPython, virtual time) with the OTA key and
    UpdateServer installed on its flash before it boots; with ``rom``, a board
    with a romfs partition (the app slots are ROM images there)."""
    dev = tmp_path / name
    dev.mkdir()
    if public_key:
        shutil.copyfile(public_key, dev / ota.PUBLIC_KEY)
    settings = dict(config or {})
    if server:
        settings["UpdateServer"] = server
    (dev / "config.json").write_text(json.dumps(settings))
    return SimProcess(dev, extra=("--romfs",) if rom else ())


def info(client):
    return client.ok(client.get("/webapi/v1/SystemInfo"))


BUSY = ("Contacting", "Checking", "Downloading", "Installed", "Trying")


def settled(client, timeout=30):
    """SystemInfo once the update module has finished what it was doing
    (restarts included: the simulator may be down for a moment)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = info(client)
            if not last["OTAMsg"].startswith(BUSY):
                return last
        except DOWN + (AssertionError,):
            pass
        time.sleep(0.1)
    raise AssertionError("OTA still busy after %s s: %r" % (timeout, last))


def slots(sim):
    return json.loads((sim.device_dir / "slots.json").read_text())
