"""The Local Authorization List under a real process killed with SIGKILL
at random moments (as far as the file system is concerned, a power cut),
under CPython and both MicroPython unix ports: after every kill the list
loads whole, as one of the versions written, never a mix of two (the
version in its header is the one its own entries were written with)."""

import json
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
from ocpp.locallist import LocalList  # noqa: E402

# Each update writes the tag VERSION with its own version as parentIdTag,
# and tags named after the version: a list torn between two updates shows.
WRITER = """
import sys
sys.path.insert(0, FIRMWARE)
from ocpp.locallist import LocalList
lst = LocalList("ocpp.list")
v = lst.version
print("ready")
while True:
    v += 1
    mark = {"idTag": "VERSION", "idTagInfo": {"status": "Accepted", "parentIdTag": str(v)}}
    if v % 4 == 0:
        entries = [mark] + [{"idTag": "F%d-%d" % (v, i), "idTagInfo": {"status": "Accepted"}} for i in range(15)]
        kind = "Full"
    else:
        entries = [mark, {"idTag": "D%d" % v, "idTagInfo": {"status": "Blocked"}}, {"idTag": "D%d" % (v - 2)}]
        kind = "Differential"
    assert lst.update(v, kind, entries) == "Accepted"
""".replace("FIRMWARE", repr(FIRMWARE))


@pytest.mark.parametrize("name,exe", interpreters())
def test_killing_the_writer_at_random_moments_leaves_one_whole_version(tmp_path, name, exe):
    cmd = exe()
    (tmp_path / "writer.py").write_text(WRITER)
    rng = random.Random(1415)
    last = 0
    for kill in range(20):
        proc = subprocess.Popen(cmd + ["writer.py"], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.005, 0.1))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        lst = LocalList(str(tmp_path / "ocpp.list"))
        v = lst.version
        assert v >= last  # never back
        last = v
        if v == 0:
            continue  # killed before its first update was on flash
        assert lst.info("VERSION") == ("Accepted", str(v)), (kill, v)
        with open(lst.path) as f:
            lines = f.read().splitlines()
        assert json.loads(lines[0]) == {"version": v, "count": len(lines) - 1}
        tags = [json.loads(line)[0] for line in lines[1:]]
        full = v - v % 4  # the last Full list, and the differential updates after it
        if full:
            assert {"F%d-%d" % (full, i) for i in range(15)} == {t for t in tags if t.startswith("F")}
        assert len(tags) == len(set(tags))
        if v % 4:  # a differential update: its own tag in, the one of two before out
            assert lst.info("D%d" % v) == ("Blocked", None) and lst.info("D%d" % (v - 2)) is None
    assert last > 20  # the writer got somewhere
