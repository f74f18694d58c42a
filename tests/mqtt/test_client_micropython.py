"""client_cases.py under the MicroPython unix ports (64-bit, and the 32-bit
one whose words are an ESP32's), against a mosquitto of its own: the same
client code, on the interpreter it ships for."""

import os

import pytest

from mpy_suite import PORTS, passes

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("port", PORTS)
def test_client_cases_pass_under_micropython(tmp_path, port, mqtt_env):
    passes(port, os.path.join(HERE, "client_cases.py"), tmp_path)
