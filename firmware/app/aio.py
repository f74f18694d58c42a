"""The asyncio and tick calls the firmware needs, spelt the same under
MicroPython and CPython (which lacks the millisecond variants)."""

import asyncio

try:
    from time import ticks_ms, ticks_diff, ticks_add

    sleep_ms = asyncio.sleep_ms

    def wait_for_ms(aw, ms):
        # Looked up when first called: asyncio's submodule that holds it
        # (0.7 KB of heap) loads with the first meter, not at boot.
        return asyncio.wait_for_ms(aw, ms)
except (ImportError, AttributeError):  # CPython
    from evse.compat import ticks_diff, ticks_add
    from app.clock import _hw_ticks as ticks_ms

    def sleep_ms(ms):
        return asyncio.sleep(ms / 1000)

    def wait_for_ms(aw, ms):
        return asyncio.wait_for(aw, ms / 1000)
