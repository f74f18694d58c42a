"""``evsectl ota`` on the host: keys, signatures the device accepts, the
update server's layout, and ``push`` to a simulated charger."""

import io
import json
import shutil
import socket
import stat
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from evsectl import build, ota, sim as simtool
from ota_support import built, charger, keys, make_bundle, update_server  # noqa: F401
from simclient import free_port


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, built, keys):
    return make_bundle(built, tmp_path_factory.mktemp("dist"), "0.2.0", keys[0])


def test_keygen_writes_a_private_key_for_the_owner_only_and_the_device_key_file(tmp_path):
    private, public = ota.keygen(tmp_path / "keys", bits=2048)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    device_key = json.loads(public.read_text())
    assert device_key["e"] == 65537 and len(device_key["n"]) == 512  # two hex digits per byte of 2048 bits
    with pytest.raises(ota.OtaFailure, match="exists"):
        ota.keygen(tmp_path / "keys")  # never overwrites the key devices trust


VERIFY_ON_DEVICE = """
import sys, json, hashlib
sys.path.insert(0, %r)
from app import ota
key = ota.load_key(%r)
manifest = open(%r, "rb").read()
sig = open(%r, "rb").read()
bad = bytes([sig[0] ^ 1]) + sig[1:]
print(json.dumps([ota.verify(hashlib.sha256(manifest).digest(), sig, key),
                  ota.verify(hashlib.sha256(manifest + b" ").digest(), sig, key),
                  ota.verify(hashlib.sha256(manifest).digest(), bad, key),
                  ota.verify(hashlib.sha256(manifest).digest(), sig[1:], key)]))
"""


@pytest.mark.parametrize("bits", [2048, 3072])
def test_the_firmware_verifies_what_the_host_signs_under_micropython(tmp_path, built, bits):
    private, public = ota.keygen(tmp_path / "keys", bits=bits)
    b = make_bundle(built, tmp_path, "0.2.0", private)
    assert ota.verify(b, public)
    code = VERIFY_ON_DEVICE % (str(simtool.paths.firmware_dir()), str(public), str(b / build.MANIFEST),
                               str(b / build.SIGNATURE))
    out = subprocess.run([simtool.micropython_exe(), "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [True, False, False, False]


def test_sign_refuses_a_bundle_whose_files_do_not_match_its_manifest(tmp_path, keys, bundle):
    b = tmp_path / bundle.name
    shutil.copytree(bundle, b)
    (b / build.SIGNATURE).unlink()
    (b / "app" / "ota.mpy").write_bytes(b"changed")
    with pytest.raises(ota.OtaFailure, match="app/ota.mpy does not match the manifest"):
        ota.sign(b, keys[0])
    assert not (b / build.SIGNATURE).exists()


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def test_serve_offers_the_newest_signed_bundle_per_board_and_only_its_files(tmp_path, keys, bundle):
    root = tmp_path / "dist"
    root.mkdir()
    shutil.copytree(bundle, root / bundle.name)
    make_bundle(bundle, root, "0.10.0", keys[0])  # newer than 0.2.0 by number, not by string
    make_bundle(bundle, root, "0.11.0")  # newest, but not signed
    devkit = make_bundle(bundle, root, "0.2.0", keys[0], board="esp32-devkit")
    with update_server(root=root) as server:
        def fetch(path):
            return get(server.url + path)

        status, body = fetch("/sim/manifest.json")
        assert status == 200 and json.loads(body)["version"] == "0.10.0"
        assert fetch("/esp32-devkit/manifest.json") == (200, (devkit / build.MANIFEST).read_bytes())
        assert fetch("/sim/0.2.0/manifest.sig") == (200, (bundle / build.SIGNATURE).read_bytes())
        assert fetch("/sim/0.2.0/evse/kernel.mpy") == (200, (bundle / "evse" / "kernel.mpy").read_bytes())
        assert fetch("/sim/0.11.0/manifest.json")[0] == 404  # not signed: not offered
        assert fetch("/sim/0.2.0/../../../etc/passwd")[0] == 404
        assert fetch("/sim/0.2.0/boot.py")[0] == 200  # listed in the manifest (the device skips it)
        (root / bundle.name / "stray.txt").write_text("not listed")
        assert fetch("/sim/0.2.0/stray.txt")[0] == 404
        assert fetch("/nosuchboard/manifest.json")[0] == 404


def test_a_charger_that_hangs_up_mid_answer_costs_the_server_no_traceback(tmp_path, bundle, capfd):
    """The charger drops the connection once it has read what it needs (a 404
    for a board nothing is built for); the server counts it and goes on."""
    with update_server(bundle=bundle) as server:
        with socket.create_connection(server.server_address[:2]) as s:
            s.sendall(b"GET /esp32-devkit/manifest.json HTTP/1.0\r\n\r\n")
            # linger 0: close() sends a reset, which loopback delivers at once
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        deadline = time.monotonic() + 10
        while server.hangups == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.hangups == 1
        assert get(server.url + "/sim/manifest.json")[0] == 200  # and serves on
    assert "Traceback" not in "".join(capfd.readouterr())


def test_evsectl_ota_commands_from_the_command_line(tmp_path, built):
    def evsectl(*args, check=True):
        return subprocess.run([sys.executable, "-m", "evsectl", "ota", *args], capture_output=True, text=True,
                              timeout=60, check=check)

    out = evsectl("keygen", "--out", str(tmp_path / "k"), "--bits", "2048")
    assert "ota_signing_key.pem" in out.stdout and "ota_pubkey.json" in out.stdout
    b = make_bundle(built, tmp_path / "dist", "0.2.0")
    assert "0.2.0 for sim" in evsectl("sign", str(b), "--key", str(tmp_path / "k" / ota.PRIVATE_KEY)).stdout
    bad = evsectl("sign", str(b), "--key", str(tmp_path / "missing.pem"), check=False)
    assert bad.returncode == 2 and "cannot read the signing key" in bad.stderr

    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "evsectl", "ota", "serve", str(tmp_path / "dist"), "--port",
                              str(port), "--bind", "127.0.0.1"], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                status, body = get("http://127.0.0.1:%d/sim/manifest.json" % port)
                break
            except OSError:
                time.sleep(0.1)
        assert status == 200 and json.loads(body)["version"] == "0.2.0"
    finally:
        serve.terminate()
        err = serve.communicate(timeout=10)[1]
    assert "sim: 0.2.0" in err


def test_push_updates_one_charger_with_its_admin_password(tmp_path, keys, bundle):
    sim = charger(tmp_path, keys[1], server=None)  # no UpdateServer: push names its own
    sim.start()
    try:
        c = sim.client
        c.config(AdminPassword="s3cret")
        with pytest.raises(ota.OtaFailure, match="needs its admin password"):
            ota.push(bundle, "127.0.0.1", sim.port, out=io.StringIO())
        assert c.status()["SystemVersion"] == "0.1.0"
        out = io.StringIO()
        assert ota.push(bundle, "127.0.0.1", sim.port, password="s3cret", timeout=60, out=out) == 0
        assert c.status()["SystemVersion"] == "0.2.0"
        text = out.getvalue()
        assert "runs 0.1.0; offering 0.2.0" in text and "100%" in text and "Updated to 0.2.0" in text
    finally:
        sim.stop()


def test_push_refuses_an_unsigned_bundle_before_contacting_anyone(tmp_path, bundle):
    b = tmp_path / bundle.name
    shutil.copytree(bundle, b)
    (b / build.SIGNATURE).unlink()
    with pytest.raises(ota.OtaFailure, match="is not signed"):
        ota.push(b, "127.0.0.1", free_port(), out=io.StringIO())


def test_the_device_refuses_a_bad_push_request(sim):
    r = sim.post("/ota/v1/Update", {"Server": "https://x"})
    assert r.status == 400 and "Server" in r.json["Errors"]
    r = sim.post("/ota/v1/Update", {"Server": "http://127.0.0.1:9", "Extra": 1})
    assert r.status == 400
    r = sim.post("/ota/v1/Update", {"Server": "http://127.0.0.1:9"})
    assert r.status == 409 and r.json["Errors"]["Server"] == "No OTA public key installed (ota_pubkey.json)"
