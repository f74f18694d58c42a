"""Scratch directories for the tests that run under both CPython and the
MicroPython unix port (tests/mpy_runner.py calls tests with no arguments,
so there is no tmp_path fixture).

Under CPython they are made by ``tempfile``; under MicroPython in the
current directory, which the pytest wrapper (test_ocpp_micropython.py) sets
to a fresh tmp_path.
"""

import os

_made = [0]


def fresh():
    """A new, empty directory's path."""
    try:
        import tempfile
    except ImportError:  # MicroPython
        while True:
            _made[0] += 1
            path = "scratch-%d" % _made[0]
            try:
                os.mkdir(path)
                return path
            except OSError:  # left by an earlier run: take the next name
                pass
    return tempfile.mkdtemp(prefix="evse-ocpp-")


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
