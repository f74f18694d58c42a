"""mapping_cases.py under the MicroPython unix ports (64-bit, and the 32-bit
one whose small ints end at 2^30 as on an ESP32)."""

import os

import pytest

from mpy_suite import PORTS, passes

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("port", PORTS)
def test_mapping_cases_pass_under_micropython(tmp_path, port):
    passes(port, os.path.join(HERE, "mapping_cases.py"), tmp_path)
