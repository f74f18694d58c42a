"""Charging profiles under a real process killed with SIGKILL at random
moments (as far as the file system is concerned, a power cut), under
CPython and both MicroPython unix ports: after every kill the profiles load
whole, as the set one of the installs left, never a torn file or a mix."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from test_journal_kill import interpreters

HERE = os.path.dirname(os.path.abspath(__file__))
FIRMWARE = os.path.normpath(os.path.join(HERE, "..", "..", "firmware"))
sys.path.insert(0, FIRMWARE)
from ocpp.smartcharging import SmartCharging  # noqa: E402

# Install n replaces profile n % 3 (at stack level n % 3) with one whose
# limit is n and that has n % 24 + 1 periods: the three on flash are always
# the last three installs, whole.
WRITER = """
import sys
sys.path.insert(0, FIRMWARE)
from ocpp.smartcharging import SmartCharging
sc = SmartCharging("ocpp.prof")
n = max([p[13][1] for p in sc.profiles] + [0])
print("ready")
while True:
    n += 1
    periods = [{"startPeriod": i * 60, "limit": n} for i in range(n % 24 + 1)]
    profile = {"chargingProfileId": n % 3, "stackLevel": n % 3, "chargingProfilePurpose": "TxDefaultProfile",
               "chargingProfileKind": "Relative",
               "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": periods}}
    assert sc.install(1, profile) == "Accepted"
""".replace("FIRMWARE", repr(FIRMWARE))


@pytest.mark.parametrize("name,exe", interpreters())
def test_killing_the_writer_at_random_moments_leaves_a_whole_set(tmp_path, name, exe):
    cmd = exe()
    (tmp_path / "writer.py").write_text(WRITER)
    rng = random.Random(1416)
    last = 0
    for kill in range(20):
        proc = subprocess.Popen(cmd + ["writer.py"], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.005, 0.1))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        profiles = SmartCharging(str(tmp_path / "ocpp.prof")).profiles
        limits = sorted(p[13][1] for p in profiles)
        n = limits[-1] if limits else 0
        assert n >= last, (kill, n, last)  # never back
        last = n
        assert limits == list(range(max(n - 2, 1), n + 1)), (kill, limits)
        for p in profiles:
            k = p[13][1]
            assert (p[0], p[2], len(p[13])) == (k % 3, k % 3, 3 * (k % 24 + 1))
            assert p[13][1::3] == [k] * (k % 24 + 1)  # every period's limit
    assert last > 20  # the writer got somewhere
