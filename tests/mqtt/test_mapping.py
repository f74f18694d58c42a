"""mapping_cases.py under CPython (test_mapping_micropython.py runs it under
the MicroPython ports)."""

import mapping_cases
import pytest

CASES = sorted(n for n in dir(mapping_cases) if n.startswith("test_"))


@pytest.mark.parametrize("case", CASES)
def test_case(case):
    getattr(mapping_cases, case)()
