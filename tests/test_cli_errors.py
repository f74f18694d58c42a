"""What a new user runs into (issue 18): every user error is one line,
``evsectl <command>: <what and what to do>``, exit code 2, no traceback; and
nothing hangs."""

import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

from evsectl import ota
from ota_support import built, charger, keys, make_bundle  # noqa: F401
from simclient import SimClient, free_port


def evsectl(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "evsectl", *args], capture_output=True, text=True, timeout=timeout)


def assert_user_error(done, command, *says, progress=False):
    """``done`` failed with one line from ``evsectl <command>`` that says each
    of ``says``; with ``progress``, after lines that said how it went."""
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert done.stderr.endswith("\n") and (progress or len(lines) == 1), done.stderr
    assert lines[-1].startswith("evsectl %s: " % command), done.stderr
    for text in says:
        assert text in lines[-1] and text not in "".join(lines[:-1]), done.stderr


@pytest.fixture
def taken_port():
    """A port another program listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


# -- 1: ports -------------------------------------------------------------------------------


def test_sim_on_a_taken_port_fails_at_once(taken_port, tmp_path):
    done = evsectl("sim", "--port", str(taken_port), "--device-dir", str(tmp_path / "dev"), timeout=20)
    assert_user_error(done, "sim", "port %d is taken" % taken_port, "--port")
    assert "ready" not in done.stdout and not (tmp_path / "dev").exists()


@pytest.mark.parametrize("port", ["99999", "0", "-1", "http"])
def test_sim_and_ota_refuse_what_is_not_a_port(port):
    assert_user_error(evsectl("sim", "--port", port), "sim", "is not a TCP port (1 to 65535)")
    assert_user_error(evsectl("ota", "serve", ".", "--port", port), "ota serve", "is not a TCP port")


def test_ota_serve_on_a_taken_port_fails_at_once(taken_port, tmp_path):
    done = evsectl("ota", "serve", str(tmp_path), "--port", str(taken_port), "--bind", "127.0.0.1", timeout=20)
    assert_user_error(done, "ota serve", "cannot listen on 127.0.0.1:%d" % taken_port, "--port")


# -- 3: bad paths and values ----------------------------------------------------------------


def test_build_out_that_cannot_be_a_directory(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    assert_user_error(evsectl("build", "--board", "sim", "--out", str(afile)), "build", "choose another --out")
    assert_user_error(evsectl("build", "--board", "sim", "--out", str(afile / "sub")), "build", "Not a directory")


def test_ota_keygen_out_that_cannot_be_a_directory(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    for out in (afile, afile / "sub"):
        assert_user_error(evsectl("ota", "keygen", "--out", str(out), "--bits", "2048"), "ota keygen",
                          "--out takes a directory")


def test_sim_device_dir_on_a_file(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    assert_user_error(evsectl("sim", "--port", str(free_port()), "--device-dir", str(afile)), "sim",
                      "--device-dir %s is a file" % afile)
    done = evsectl("sim", "--port", str(free_port()), "--device-dir", str(afile / "sub"))
    assert_user_error(done, "sim", "cannot write the simulated flash", "choose another --device-dir")


def test_sim_heapsize_that_is_not_a_size_starts_nothing(tmp_path):
    done = evsectl("sim", "--port", str(free_port()), "--device-dir", str(tmp_path / "dev"), "--heapsize", "lots")
    assert_user_error(done, "sim", "--heapsize 'lots' is not a size", "96k")
    assert "Simulated meters" not in done.stdout


def test_a_bad_command_line_is_one_line_too():
    assert_user_error(evsectl("status"), "status", "--host", "evsectl status --help")
    assert_user_error(evsectl("build", "--board", "nonesuch"), "build", "no board 'nonesuch'; known boards:")


# -- 5: stopping the simulator --------------------------------------------------------------


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
def test_ctrl_c_stops_the_simulator_quietly_and_at_once(tmp_path, interpreter):
    port = free_port()
    log = tmp_path / "sim.log"
    with open(log, "w") as out:
        # Ctrl-C's SIGINT, whatever this test's own parent ignores.
        proc = subprocess.Popen([sys.executable, "-m", "evsectl", "sim", "--port", str(port), "--device-dir",
                                 str(tmp_path / "dev"), "--interpreter", interpreter], stdout=out, stderr=out,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            SimClient("http://127.0.0.1:%d" % port).wait_ready(30, proc)
            start = time.monotonic()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
            assert time.monotonic() - start < 3  # it was 3 s to a kill, then 2 s more for the output
        finally:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "Simulated charger ready" in text and "Traceback" not in text and "KeyboardInterrupt" not in text, text
    # 9: the log's milliseconds count from the start, like TimeStamp, not from the host's boot.
    stamps = [int(ms) for ms in re.findall(r"^\[ *(\d+)\] ", text, re.M)]
    assert stamps and max(stamps) < 30000, text


# -- 2: ota push ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pushed_to(tmp_path_factory, built, keys):
    """A simulated charger (0.1.0, admin password "s3cret") and signed bundles to push to it."""
    tmp = tmp_path_factory.mktemp("push")
    sim = charger(tmp, keys[1])
    sim.start()
    sim.client.config(AdminPassword="s3cret")
    bundles = {v: make_bundle(built, tmp / "dist", v, keys[0]) for v in ("0.0.9", "0.1.0")}
    bundles["other board"] = make_bundle(built, tmp / "dist", "0.2.0", keys[0], board="esp32-devkit")
    yield sim, bundles
    sim.stop()


def push(sim, bundle, *args):
    start = time.monotonic()
    done = evsectl("ota", "push", str(bundle), "--host", "127.0.0.1", "--port", str(sim.port), "--timeout", "60", *args)
    assert time.monotonic() - start < 20, "push waited for what could not come"
    return done


def test_push_of_the_running_version_says_so_at_once(pushed_to):
    sim, bundles = pushed_to
    done = push(sim, bundles["0.1.0"], "--password", "s3cret")
    assert (done.returncode, done.stderr) == (0, "evsectl ota push: 127.0.0.1 already runs 0.1.0; nothing to do\n")
    done = push(sim, bundles["0.0.9"], "--password", "s3cret")
    assert_user_error(done, "ota push", "runs 0.1.0, newer than 0.0.9")


def test_push_of_a_bundle_for_another_board_names_the_board(pushed_to):
    sim, bundles = pushed_to
    done = push(sim, bundles["other board"], "--password", "s3cret")
    assert_user_error(done, "ota push", "127.0.0.1 is a sim board; the bundle is for esp32-devkit",
                      "evsectl build --board sim", progress=True)
    assert not re.search(r"\b404\b", done.stderr)  # no Not Found on the way (a port may hold the digits)
    assert sim.client.status()["SystemVersion"] == "0.1.0"


def test_push_tells_a_wrong_password_from_a_missing_one(pushed_to):
    sim, bundles = pushed_to
    assert_user_error(push(sim, bundles["other board"]), "ota push", "needs its admin password", progress=True)
    done = push(sim, bundles["other board"], "--password", "wrong")
    assert_user_error(done, "ota push", "refused the admin password: wrong password", progress=True)


# -- 9: ota keygen's key for OpenSSL ----------------------------------------------------------


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")
def test_openssl_checks_a_signature_with_the_pem_key_keygen_writes(tmp_path, built):
    keydir = tmp_path / "keys"
    done = evsectl("ota", "keygen", "--out", str(keydir), "--bits", "2048")
    assert done.returncode == 0 and "ota_pubkey.pem" in done.stdout
    bundle = make_bundle(built, tmp_path / "dist", "0.2.0", keydir / ota.PRIVATE_KEY)
    check = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(keydir / "ota_pubkey.pem"), "-signature",
                            str(bundle / "manifest.sig"), str(bundle / "manifest.json")], capture_output=True, text=True)
    assert check.returncode == 0 and "Verified OK" in check.stdout


# -- 4: meter-sim ---------------------------------------------------------------------------


def test_meter_sim_is_quiet_and_says_when_asked_for_another_unit(tmp_path):
    port = free_port()
    log = tmp_path / "meter-sim.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "evsectl", "meter-sim", "--model", "SDM120M", "--tcp", str(port)],
                                stdout=out, stderr=out, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            deadline = time.monotonic() + 20
            while "Ctrl-C stops it" not in log.read_text():
                assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
                time.sleep(0.1)
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                for transaction, unit in ((1, 1), (2, 2), (3, 2)):  # Modbus TCP: read 2 input registers at 0
                    s.sendall(struct.pack(">HHHBBHH", transaction, 0, 6, unit, 4, 0, 2))
                    answer = s.recv(64)
                    assert answer[7] == (4 if unit == 1 else 0x84)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            proc.kill()
            proc.wait()
    text = log.read_text()
    hint = ("evsectl meter-sim: a request for unit 2, but this meter is unit 1: start it with --unit 2, or set the "
            "firmware's Meter1Unit/Meter2Unit to 1\n")
    assert text.count(hint) == 1, text
    assert ">>>>>" not in text and "recv:" not in text and "Traceback" not in text, text


def test_the_quick_starts_meter_settings_read_the_simulated_meters(sim):
    """README quick start: a fresh simulator has no meters configured until this."""
    assert sim.meter(1)["ModbusData"] == {} or all(
        r["DataStatus"] == "Not available" for r in sim.meter(1)["ModbusData"].values())
    sim.config(Meter1Type=1, Meter2Type=1)
    sim.advance(3000)
    for n in (1, 2):
        registers = sim.meter(n)["ModbusData"]
        assert registers and all(r["DataStatus"] == "Valid" for r in registers.values()), registers
    assert sim.status()["Meter1Status"] == sim.status()["Meter2Status"] == 0


def test_ctrl_c_ends_any_command_without_a_traceback(taken_port, tmp_path, built, keys):
    """ota push waiting for a charger that never answers (a port that listens, never accepts)."""
    bundle = make_bundle(built, tmp_path, "0.2.0", keys[0])
    proc = subprocess.Popen([sys.executable, "-m", "evsectl", "ota", "push", str(bundle), "--host", "127.0.0.1",
                             "--port", str(taken_port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(3)  # well into its first request
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130 and "Traceback" not in out + err, err
