"""The firmware's Modbus client (firmware/meters) against real pymodbus meters,
under CPython and the MicroPython unix port: every model over Modbus TCP, RTU
framing over TCP and RTU on a pty pair; then every fault a bus can have.

The client runs in tests/meter_probe.py, which prints what it read as JSON.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from evsectl import metersim
from evsectl.faultlink import FaultLink

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.path.join(HERE, "meter_probe.py")
MICROPYTHON = shutil.which("micropython") or os.path.join(os.path.dirname(sys.executable), "micropython")
INTERPRETERS = {"cpython": sys.executable, "micropython": MICROPYTHON}
models = metersim.models()
MODEL_NAMES = [m.name for m in models.ALL]
IMPORT_KWH = 1234.5


def probe(interpreter, **settings):
    proc = subprocess.run(
        [INTERPRETERS[interpreter], PROBE, json.dumps(settings)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _load(model):
    # 16 A per phase on a three-phase meter, 10 A on a single-phase one.
    amps = 16.0 if model.phases == 3 else 10.0
    return metersim.SteadyLoad(model.phases, current_a=amps, import_kwh=IMPORT_KWH)


@pytest.fixture
def served(request):
    """Start meter servers; stopped after the test."""
    started = []

    def serve(model, transport, unit=1, **kw):
        server = metersim.MeterServer([metersim.Meter(model, _load(model), unit)], transport, **kw).start()
        started.append(server)
        return server

    yield serve
    for s in started:
        s.stop()


@pytest.fixture
def pty_pair(tmp_path):
    """Two linked ptys, as socat makes them: (meter side, charger side)."""
    if not shutil.which("socat"):
        pytest.skip("socat not installed")
    a, b = str(tmp_path / "meter-tty"), str(tmp_path / "charger-tty")
    proc = subprocess.Popen(
        ["socat", "pty,raw,echo=0,link=" + a, "pty,raw,echo=0,link=" + b], stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 5
    while not (os.path.exists(a) and os.path.exists(b)):
        assert time.monotonic() < deadline, "socat made no ptys"
        time.sleep(0.02)
    yield a, b
    proc.terminate()
    proc.wait(timeout=5)


def _check_values(model, got):
    v = {int(k): x for k, x in got["values"].items()}
    assert sorted(v) == sorted(r[0] for r in model.registers), "every register read"
    amps = 16.0 if model.phases == 3 else 10.0
    for addr, desc, meaning in model.registers:
        if meaning == models.VOLTAGE:
            assert v[addr] == 230.0, desc
        elif meaning == models.CURRENT:
            assert v[addr] == amps, desc
        elif meaning == models.TOTAL_POWER:
            assert v[addr] == 230.0 * amps * model.phases, desc
        elif meaning == models.IMPORT:
            assert IMPORT_KWH <= v[addr] < IMPORT_KWH + 0.1, desc  # float32: ~0.1 Wh steps at this size


def _wire(model):
    """Bytes a full poll cycle needs: RTU requests are 8 bytes, answers 5 + data."""
    blocks = models.blocks(model)
    return 8 * len(blocks), sum(5 + 2 * count for _, count in blocks)


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_over_modbus_tcp(interpreter, name, served):
    model = models.by_name(name)
    server = served(model, "tcp")
    got = probe(interpreter, model=name, link="tcp", port=server.port)
    assert got["errors"] == 0, got["last_error"]
    _check_values(model, got)
    sent, received = _wire(model)
    assert (got["sent"], got["received"]) == (sent + 4 * len(models.blocks(model)), received + 4 * len(models.blocks(model)))


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_rtu_over_tcp(interpreter, name, served):
    model = models.by_name(name)
    server = served(model, "rtu-over-tcp", unit=7)
    got = probe(interpreter, model=name, link="rtu-tcp", port=server.port, unit=7)
    assert got["errors"] == 0, got["last_error"]
    _check_values(model, got)
    assert (got["sent"], got["received"]) == _wire(model)


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_rtu_on_a_pty_pair(interpreter, name, served, pty_pair):
    meter_tty, charger_tty = pty_pair
    model = models.by_name(name)
    served(model, "serial", device=meter_tty)
    got = probe(interpreter, model=name, link="serial", device=charger_tty, polls=2)
    assert got["errors"] == 0, got["last_error"]
    _check_values(model, got)


# -- faults: counted, never raised, and the bus stays in step ----------------------


@pytest.fixture
def faulty(served):
    """``faulty(model, framing, fault)``: a served meter behind a FaultLink;
    gives the probe's link kind and the port to reach it on."""
    started = []

    def make(model, framing, fault, slow_ms=500):
        server = served(model, "rtu-over-tcp" if framing == "rtu" else "tcp")
        link = FaultLink(server.port, framing, fault=fault, slow_ms=slow_ms).start()
        started.append(link)
        return ("rtu-tcp" if framing == "rtu" else "tcp"), link.port

    yield make
    for link in started:
        link.stop()


def _first(n, mode):
    """A fault for the first ``n`` requests, then none."""
    seen = []

    def fault(unit):
        seen.append(unit)
        return mode if len(seen) <= n else None

    return fault


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
@pytest.mark.parametrize("framing", ["rtu", "mbap"])
def test_no_answer_is_a_counted_timeout_then_reading_resumes(interpreter, framing, faulty):
    model = models.SDM72D_M
    n = len(models.blocks(model))
    kind, port = faulty(model, framing, _first(n, "NoAnswer"))
    got = probe(interpreter, model=model.name, link=kind, port=port, timeout_ms=300, polls=2)
    assert got["errors"] == n and got["errs"] == [1] * len(model.registers)
    assert "timeout" in got["last_error"]
    _check_values(model, got)  # the second cycle read everything


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
@pytest.mark.parametrize("framing", ["rtu", "mbap"])
def test_garbled_answers_are_counted_and_dropped(interpreter, framing, faulty):
    model = models.SDM120M
    n = len(models.blocks(model))
    kind, port = faulty(model, framing, _first(n, "Crc"))
    got = probe(interpreter, model=model.name, link=kind, port=port, polls=2)
    assert got["errors"] == n
    assert got["last_error"] == ("CRC error" if framing == "rtu" else "garbled frame")
    _check_values(model, got)


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
def test_exception_answers_are_counted_with_their_code(interpreter, faulty):
    model = models.NMID30_2
    kind, port = faulty(model, "rtu", lambda unit: "Exception")
    got = probe(interpreter, model=model.name, link=kind, port=port)
    assert got["errors"] == len(models.blocks(model))
    assert got["last_error"] == "exception 2"
    assert got["values"] == {}


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
@pytest.mark.parametrize("framing", ["rtu", "mbap"])
def test_late_answers_are_never_taken_for_the_next_ones(interpreter, framing, faulty):
    # Answers 700 ms late against a 400 ms timeout: each late answer arrives
    # while the client waits for another. RTU discards it in the silence
    # before the next request; Modbus TCP by its transaction id.
    model = models.SDM72D_M
    n = len(models.blocks(model))
    kind, port = faulty(model, framing, _first(2, "Slow"), slow_ms=700)
    got = probe(interpreter, model=model.name, link=kind, port=port, timeout_ms=400, polls=2)
    assert got["errors"] == 2
    _check_values(model, got)  # every value right: nothing was read out of step


def test_unit_id_mismatch_on_rtu_is_silence(served):
    model = models.SDM120M
    server = served(model, "rtu-over-tcp", unit=1)
    got = probe("micropython", model=model.name, link="rtu-tcp", port=server.port, unit=2, timeout_ms=100)
    assert got["errors"] == len(models.blocks(model)) and "timeout" in got["last_error"]


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
def test_an_unplugged_meter_counts_errors_and_is_read_again_when_back(interpreter, faulty):
    model = models.SDM72D_M
    n = len(models.blocks(model))
    kind, port = faulty(model, "mbap", _first(1, "Unplugged"))
    got = probe(interpreter, model=model.name, link=kind, port=port, timeout_ms=150, polls=2)
    assert 1 <= got["errors"] <= n
    _check_values(model, got)


def test_nobody_listening_is_a_timeout_not_a_crash(served):
    from simclient import free_port

    got = probe("micropython", model="SDM120M", link="tcp", port=free_port(), timeout_ms=100)
    assert got["errors"] == len(models.blocks(models.SDM120M))
