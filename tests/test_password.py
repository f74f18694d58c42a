"""The admin password (firmware/app/password.py): PBKDF2-HMAC-SHA256 as
CPython's hashlib computes it, under CPython and the MicroPython unix port;
a salt per charger; the old hashes still checked; wrong guesses rate-limited,
also through the simulator's WebAPI."""

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from app import password
from evsectl import sim as simtool

# (password, salt, iterations): short, empty, longer than HMAC's 64-byte block, one iteration
VECTORS = [
    (b"password", b"salt", 1),
    (b"password", b"salt", 4096),
    (b"", b"", 3),
    (b"passwordPASSWORDpassword", b"saltSALTsaltSALTsaltSALTsaltSALTsalt", 257),
    (b"x" * 65, b"\x00\xff" * 8, 100),
    (b"k" * 64, b"salt", 2),
]
FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
# Run by the MicroPython unix port: each vector's key as hex, then the time
# password.ITERATIONS take, in ms.
MPY_SCRIPT = """
import sys, time, binascii
sys.path.insert(0, %r)
from app import password
for pw, salt, n in %r:
    print(binascii.hexlify(password.pbkdf2_sha256(pw, salt, n)).decode())
t = time.ticks_ms()
password.hash_password("a long one")
print(time.ticks_diff(time.ticks_ms(), t))
"""


@pytest.mark.parametrize("pw, salt, iterations", VECTORS)
def test_pbkdf2_is_cpythons_under_cpython(pw, salt, iterations):
    assert password.pbkdf2_sha256(pw, salt, iterations) == hashlib.pbkdf2_hmac("sha256", pw, salt, iterations)


def test_pbkdf2_is_cpythons_under_micropython():
    done = subprocess.run([simtool.micropython_exe(), "-c", MPY_SCRIPT % (str(FIRMWARE), VECTORS)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.split()
    assert lines[:-1] == [hashlib.pbkdf2_hmac("sha256", *v).hex() for v in VECTORS]
    print("PBKDF2-HMAC-SHA256, %d iterations, on the MicroPython unix port: %s ms" % (password.ITERATIONS, lines[-1]))


def test_each_hash_has_a_salt_of_its_own():
    a, b = password.hash_password("a long one"), password.hash_password("a long one")
    assert a != b and a.startswith("pbkdf2-sha256$%d$" % password.ITERATIONS)
    assert password.check("a long one", a) and password.check("a long one", b)
    assert not password.check("a long onE", a) and not password.check("", a)
    assert not password.check("a long one", "pbkdf2-sha256$x$00$00")  # damaged: never a match


def test_an_old_hash_still_checks():
    old = hashlib.sha256(b"evse-admin:hunter22").hexdigest()  # what versions before stored
    assert password.check("hunter22", old) and not password.check("hunter23", old)


def test_wrong_guesses_wait_longer_and_longer():
    now = [0]
    guesses = password.Limiter(clock=lambda: now[0])
    for _ in range(password.FREE_FAILURES):
        assert guesses.wait_s() == 0
        guesses.failed()
    waits = []
    for _ in range(9):
        waits.append(guesses.wait_s())
        now[0] += 500
        assert guesses.wait_s() == (waits[-1] * 1000 - 500 + 999) // 1000
        now[0] += waits[-1] * 1000 - 500
        assert guesses.wait_s() == 0
        guesses.failed()
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    guesses.succeeded()
    assert guesses.wait_s() == 0


def test_the_charger_salts_rate_limits_and_keeps_an_old_hash_until_the_next_set(sim_factory, tmp_path):
    dev = tmp_path / "dev0"
    dev.mkdir()
    (dev / "config.json").write_text(json.dumps({"AdminPasswordHash": hashlib.sha256(b"evse-admin:old-one").hexdigest()}))
    c = sim_factory().client
    api = "/webapi/v1/SystemConfig"
    assert c.post(api, {"ChargeCurrent": 10}, auth=("admin", "old-one")).status == 200
    assert c.post(api, {"AdminPassword": "new-one"}, auth=("admin", "old-one")).status == 200
    stored = json.loads((dev / "config.json").read_text())["AdminPasswordHash"]
    assert stored.startswith("pbkdf2-sha256$") and password.check("new-one", stored)
    assert c.post(api, {"ChargeCurrent": 11}, auth=("admin", "old-one")).status == 401

    for _ in range(password.FREE_FAILURES - 1):  # with the one just above
        assert c.post(api, {"ChargeCurrent": 12}, auth=("admin", "guess")).status == 401
    r = c.post(api, {"ChargeCurrent": 12}, auth=("admin", "new-one"))  # even the right one waits now
    assert r.status == 429 and r.headers["Retry-After"] == "1" and "try again in 1 s" in r.json["Errors"]["Authorization"]
    assert c.get("/webapi/v1/Status").status == 200  # reading stays open
