"""The journal under a real process killed with SIGKILL at random moments
(as far as the file system is concerned, a power cut), under CPython and
both MicroPython unix ports: after every kill the journal loads, its
records are exactly the unconfirmed tail of what was written, in order,
and seqs are never reused. The writer compacts often (a small bound), so
kills land in compactions too; byte-exact cuts are in test_journal.py."""

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
FIRMWARE = os.path.normpath(os.path.join(HERE, "..", "..", "firmware"))
sys.path.insert(0, os.path.dirname(HERE))
import micropython32  # noqa: E402
from ocpp.journal import Journal, START, STOP, METER  # noqa: E402

WRITER = """
import sys
sys.path.insert(0, FIRMWARE)
from ocpp.journal import Journal
j = Journal("ocpp.jnl", max_bytes=2048)
run = int(sys.argv[1])  # which start of the writer this is
last = j.last_seq()
print("ready")
n = 0
while True:
    n += 1
    # Every record names the seq before it: a gap or a repeat shows.
    last = j.append("StartTransaction", {"prev": last, "run": run})
    j.set_transaction_id(last, last + 1000)
    for i in range(3):
        last = j.append("MeterValues", {"prev": last, "pad": "x" * (n % 50)})
    last = j.append("StopTransaction", {"prev": last})
    # Confirm oldest first, as the charge point does, leaving some behind.
    while len(j) > n % 4:
        seq = j.first()[0]
        if n % 3 == 0:
            j.attempted(seq)
        j.confirm(seq)
""".replace("FIRMWARE", repr(FIRMWARE))


def interpreters():
    return [("micropython-64", lambda: [shutil.which("micropython") or pytest.fail("micropython not on PATH")]),
            ("micropython-32", lambda: [micropython32.exe()]),
            ("cpython", lambda: [sys.executable, "-u"])]


@pytest.mark.parametrize("name,exe", interpreters())
def test_killing_the_writer_at_random_moments_never_loses_or_repeats_a_record(tmp_path, name, exe):
    cmd = exe()
    (tmp_path / "writer.py").write_text(WRITER)
    rng = random.Random(2026)
    high = 0  # the highest seq seen so far: never handed out again
    for kill in range(20):
        proc = subprocess.Popen(cmd + ["writer.py", str(kill)], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.005, 0.1))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        j = Journal(str(tmp_path / "ocpp.jnl"), max_bytes=2048)
        assert not (tmp_path / "ocpp.jnl.tmp").exists()
        records = list(j.records())
        for (seq, action, payload), nxt in zip(records, records[1:]):
            assert nxt[2]["prev"] == seq, (kill, records)  # contiguous: nothing lost in between
        for seq, action, payload in records:
            assert action in (START, STOP, METER) and seq > high - 200
        assert j.last_seq() >= high  # never goes back
        high = j.last_seq()
        # The id of every Start still in the journal was written after it,
        # unless a kill came between the two: then it was its run's last Start.
        starts = [(seq, payload["run"]) for seq, action, payload in records if action == START]
        for (seq, run), (_, later_run) in zip(starts, starts[1:] + [(None, None)]):
            if later_run == run:
                assert j.transaction_id(seq) == seq + 1000, (kill, seq)
    assert high > 100  # the writer got somewhere
