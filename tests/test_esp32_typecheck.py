"""The ESP32 adapters type-check against the port's stubs, and the check has teeth.

A misspelt ``machine``/``network`` call would otherwise only show on a board.
"""

import importlib.util
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("mypy")
try:
    metadata.distribution("micropython-esp32-esp32-generic-stubs")
except metadata.PackageNotFoundError:
    pytest.skip("micropython-esp32-esp32-generic-stubs is not installed", allow_module_level=True)


def _load_tool():
    spec = importlib.util.spec_from_file_location("typecheck_esp32", ROOT / "tools" / "typecheck_esp32.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def test_adapters_pass():
    status, output = tool.check()
    assert status == 0, output
    assert "Success" in output


@pytest.mark.parametrize(
    "source, right, wrong, complaint",
    [
        ("esp32.py", ".duty_u16(self._duty", ".duty_u61(self._duty", '"PWM" has no attribute "duty_u61"'),
        ("esp32.py", 'machine.Pin(relay["pin"]', 'machine.Pinn(relay["pin"]', 'has no attribute "Pinn"'),
        ("esp32.py", "= adc.read_uv()", "= adc.read_mv()", '"ADC" has no attribute "read_mv"'),
        ("wifi_esp32.py", "self._sta.isconnected()", "self._sta.is_connected()", '"WLAN" has no attribute'),
    ],
)
def test_misspelt_call_is_caught(tmp_path, source, right, wrong, complaint):
    text = (ROOT / "firmware" / "hal" / source).read_text()
    assert right in text  # the test still points at real code
    broken = tmp_path / ("broken_" + source)
    broken.write_text(text.replace(right, wrong))
    status, output = tool.check([broken])
    assert status != 0
    assert complaint in output, output
