"""The admin password: stored as PBKDF2-HMAC-SHA256 with a random salt of
this charger's own, and guessed at a limited rate.

Stored as ``pbkdf2-sha256$<iterations>$<salt hex>$<key hex>``. A stolen
config.json then costs ITERATIONS × 2 SHA-256 per guess and per charger,
where the single SHA-256 with one salt for every charger it replaces
(``"evse-admin:"``, 64 hex digits, still accepted until the password is next
set) let one precomputed table serve them all.

MicroPython has hashlib.sha256 but neither hmac nor pbkdf2_hmac, so both are
here, in the few lines RFC 2104 and RFC 8018 take; the tests hold them to
CPython's hashlib.pbkdf2_hmac under both interpreters.
"""

import binascii
import hashlib
import os

from app.aio import ticks_diff, ticks_ms  # loaded already by the web server


# One login should cost an ESP32 well under a second. 4000 iterations take
# 9 ms on the MicroPython unix port of a shared 2-core Xeon
# (tests/test_password.py prints it), some 2 us each; an ESP32 at 240 MHz
# runs such bytecode 50 to 100 times slower: 0.5 to 1 s, an estimate until
# measured on a board.
ITERATIONS = 4000
SALT_BYTES = 16
CHUNK = 50  # iterations between two turns of the other tasks: 5 to 10 ms on an ESP32
SCHEME = "pbkdf2-sha256"
_LEGACY_SALT = "evse-admin:"
FREE_FAILURES = 5  # typos cost nothing; then each failure doubles the wait
MAX_WAIT_MS = 60000


def _hex(data):
    return binascii.hexlify(data).decode()


def _pbkdf2(password, salt, iterations):
    """RFC 8018 PBKDF2 with HMAC-SHA256 (RFC 2104), 32 bytes of key: a
    generator that yields every CHUNK iterations, so that the control loop
    runs meanwhile, and returns the key (see pbkdf2_sha256, check_async)."""
    if len(password) > 64:  # HMAC: a key longer than the block is hashed first
        password = hashlib.sha256(password).digest()
    inner = bytes(b ^ 0x36 for b in password) + b"\x36" * (64 - len(password))
    outer = bytes(b ^ 0x5C for b in password) + b"\x5c" * (64 - len(password))

    def hmac(message):
        h = hashlib.sha256(inner)
        h.update(message)
        h2 = hashlib.sha256(outer)
        h2.update(h.digest())
        return h2.digest()

    u = hmac(salt + b"\x00\x00\x00\x01")  # block 1: one block is 32 bytes, all we keep
    t = int.from_bytes(u, "big")  # the XOR of 32-byte strings, as one long integer
    for i in range(1, iterations):
        u = hmac(u)
        t ^= int.from_bytes(u, "big")
        if i % CHUNK == 0:
            yield
    return t.to_bytes(32, "big")


def _finish(steps):
    """Run a generator to its end; its return value."""
    try:
        while True:
            next(steps)
    except StopIteration as e:
        return e.value


def pbkdf2_sha256(password, salt, iterations):
    """``hashlib.pbkdf2_hmac("sha256", password, salt, iterations)`` of CPython."""
    return _finish(_pbkdf2(password, salt, iterations))


def hash_password(password, salt=None, iterations=ITERATIONS):
    """What config.json keeps of ``password`` (a str), derived at once (the
    firmware's WebAPI uses hash_async)."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    return _stored(iterations, salt, pbkdf2_sha256(password.encode(), salt, iterations))


def _stored(iterations, salt, key):
    return "%s$%d$%s$%s" % (SCHEME, iterations, _hex(salt), _hex(key))


def _legacy(password):
    return _hex(hashlib.sha256((_LEGACY_SALT + password).encode()).digest())


def _same(a, b):
    """``a == b`` in a time that does not tell how much of them agrees."""
    if len(a) != len(b):
        return False
    diff = 0
    for x, y in zip(a, b):
        diff |= ord(x) ^ ord(y)
    return diff == 0


def _checking(password, stored):
    """Whether ``password`` (a str) is the one ``stored`` (either format) was
    made from: a generator, as _pbkdf2, that returns the answer."""
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != SCHEME:
        return _same(_legacy(password), stored)
    try:
        iterations, salt = int(parts[1]), binascii.unhexlify(parts[2])
    except ValueError:  # not a number, not hex: stored by no version of this module
        return False
    key = yield from _pbkdf2(password.encode(), salt, iterations)
    return _same(_stored(iterations, salt, key), stored)


def check(password, stored):
    return _finish(_checking(password, stored))


async def check_async(password, stored):
    """check(), letting the other tasks run while it derives."""
    return await _finish_async(_checking(password, stored))


async def hash_async(password):
    """hash_password(), letting the other tasks run while it derives."""
    salt = os.urandom(SALT_BYTES)
    return _stored(ITERATIONS, salt, await _finish_async(_pbkdf2(password.encode(), salt, ITERATIONS)))


async def _finish_async(steps):
    import asyncio

    try:
        while True:
            next(steps)
            await asyncio.sleep(0)
    except StopIteration as e:
        return e.value


class Limiter:
    """Wrong passwords at a limited rate: after FREE_FAILURES in a row, each
    one makes the next attempt wait, 1 s, 2 s, 4 s… up to a minute; a right
    one starts afresh. One count for all clients: a charger has too little
    memory to remember each, and a locked-out owner waits a minute at most."""

    def __init__(self, clock=ticks_ms):
        self.clock = clock
        self.failures = 0
        self.last = 0

    def wait_s(self):
        """Seconds until the next attempt may be checked (0: now)."""
        if self.failures < FREE_FAILURES:
            return 0
        wait = min(1000 << min(self.failures - FREE_FAILURES, 6), MAX_WAIT_MS)
        left = wait - ticks_diff(self.clock(), self.last)
        return (left + 999) // 1000 if left > 0 else 0

    def failed(self):
        self.failures += 1
        self.last = self.clock()

    def succeeded(self):
        self.failures = 0


# The charger's one count (app.webapi).
guesses = Limiter()
