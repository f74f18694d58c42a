"""A tiny test runner for interpreters without pytest (the MicroPython unix port).

    micropython tests/mpy_runner.py tests/kernel/test_pilot.py tests/kernel/test_lock.py
    micropython tests/mpy_runner.py                  # every tests/kernel/test_*.py
    micropython tests/mpy_runner.py -k relay FILES   # only tests whose name contains "relay"

Each file is imported as a module (firmware/ and tests/kernel/ are put on
sys.path first) and every module-level ``test_*`` function is called with no
arguments: a test passes when it returns, fails when it raises. One line per
test, then ``N passed, M failed``; the exit status is 1 if anything failed.
Modules that need CPython-only packages (their name contains "hypothesis",
or the pytest wrapper that runs this runner) are skipped. Runs under CPython
too.
"""

import sys

try:
    from time import ticks_ms, ticks_diff
except ImportError:  # CPython
    import time

    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b


CPYTHON_ONLY = ("test_micropython_port",)


def _dirname(path):
    i = path.rfind("/")
    if i < 0:
        return "."
    if i == 0:
        return "/"
    return path[:i]


def _module_name(path):
    name = path[path.rfind("/") + 1 :]
    if name.endswith(".py"):
        name = name[:-3]
    return name


def _print_exception(e):
    if hasattr(sys, "print_exception"):
        sys.print_exception(e, sys.stdout)
    else:
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__, file=sys.stdout)


def _all_kernel_tests(kernel_dir):
    import os

    names = [n for n in os.listdir(kernel_dir) if n.startswith("test_") and n.endswith(".py")]
    names.sort()
    return [kernel_dir + "/" + n for n in names]


def main(argv):
    here = _dirname(__file__)
    kernel_dir = here + "/kernel"
    for path in (here + "/../firmware", kernel_dir):
        if path not in sys.path:
            sys.path.insert(0, path)

    pattern = None
    files = []
    i = 0
    while i < len(argv):
        if argv[i] == "-k" and i + 1 < len(argv):
            pattern = argv[i + 1]
            i += 2
            continue
        files.append(argv[i])
        i += 1
    if not files:
        files = _all_kernel_tests(kernel_dir)

    passed = 0
    failed = 0
    skipped = 0
    started = ticks_ms()
    for path in files:
        name = _module_name(path)
        if "hypothesis" in name or name in CPYTHON_ONLY:
            print("SKIP %s (CPython only)" % name)
            skipped += 1
            continue
        folder = _dirname(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        try:
            module = __import__(name)
        except Exception as e:
            print("FAIL %s (import): %s: %s" % (name, type(e).__name__, e))
            _print_exception(e)
            failed += 1
            continue
        tests = []
        for attr in dir(module):
            if attr.startswith("test_") and (pattern is None or pattern in attr):
                fn = getattr(module, attr)
                if callable(fn):
                    tests.append(attr)
        tests.sort()
        for attr in tests:
            t0 = ticks_ms()
            try:
                getattr(module, attr)()
            except Exception as e:
                ms = ticks_diff(ticks_ms(), t0)
                print("FAIL %s.%s (%d ms): %s: %s" % (name, attr, ms, type(e).__name__, e))
                _print_exception(e)
                failed += 1
                continue
            ms = ticks_diff(ticks_ms(), t0)
            print("PASS %s.%s (%d ms)" % (name, attr, ms))
            passed += 1
    total_ms = ticks_diff(ticks_ms(), started)
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d modules skipped" % skipped
    print("%s in %d ms" % (line, total_ms))
    return 1 if failed else 0


sys.exit(main(sys.argv[1:]))
