"""tests/mqtt modules that need no broker, under the MicroPython unix ports
(64-bit, and the 32-bit one: an ESP32's word size, and no ssl module)."""

import os

import pytest

from mpy_suite import PORTS, passes

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = ("test_mqtt_settings.py", "test_homeassistant.py")


@pytest.mark.parametrize("port", PORTS)
@pytest.mark.parametrize("module", MODULES)
def test_module_passes_under_micropython(tmp_path, port, module):
    passes(port, os.path.join(HERE, module), tmp_path)
