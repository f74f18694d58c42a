"""CPython: make the firmware (``ocpp``, ``app``) and this folder's helpers
importable as on the device, as tests/kernel/conftest.py does."""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_FIRMWARE = os.path.normpath(os.path.join(_HERE, "..", "..", "firmware"))

for _path in (_HERE, _FIRMWARE):
    if _path not in sys.path:
        sys.path.insert(0, _path)
