"""A meter that answers only for the registers its maker documents
(exception 0x02 for a request reading through the gaps between them): the
firmware's client falls back to the documented registers, one block at a
time, and keeps doing so for that meter. Under CPython and MicroPython."""

import pytest

from evsectl import metersim
from test_meter_client import INTERPRETERS, _check_values, _load, models, probe

MBAP_REQUEST = 12


@pytest.mark.parametrize("interpreter", sorted(INTERPRETERS))
def test_a_strict_meter_is_read_register_block_by_block(interpreter):
    model = models.SDM120M  # its first request reads through two gaps
    server = metersim.MeterServer([metersim.Meter(model, _load(model), 1, gaps=False)], "tcp").start()
    try:
        got = probe(interpreter, model=model.name, link="tcp", port=server.port, polls=2)
    finally:
        server.stop()
    assert got["errors"] == 0, got["last_error"]  # the refusal is no failure of the meter
    assert got["through_gaps"] is False
    _check_values(model, got)
    merged, split = models.blocks(model), models.blocks(model, False)
    assert len(split) > len(merged)
    # First poll: the refused request, then the documented registers; second poll: those only.
    assert got["sent"] == MBAP_REQUEST * (1 + len(split) + len(split))


def test_documented_blocks_hold_no_gap():
    for model in models.ALL:
        listed = {a for r in model.registers for a in (r[0], r[0] + 1)}
        for start, count in models.blocks(model, False):
            assert set(range(start, start + count)) <= listed, model.name
