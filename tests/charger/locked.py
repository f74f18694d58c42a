"""Run a piece of code with the MicroPython heap locked: any allocation in
it raises MemoryError. Under CPython (no heap to lock) it just runs it."""

try:
    import micropython

    _lock = micropython.heap_lock
    _unlock = micropython.heap_unlock
except (ImportError, AttributeError):  # CPython
    micropython = None


def heap_locked(fn):
    """``fn()`` with the heap locked (no arguments: a call with *args
    allocates the arguments' array in MicroPython)."""
    if micropython is None:
        return fn()
    _lock()
    try:
        return fn()
    finally:
        _unlock()


LOCKS = micropython is not None
