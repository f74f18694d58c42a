"""Runs after boot.py (which put the active app slot on ``sys.path``): the
charger's firmware.

If the app cannot even start (an import fails, the runtime raises), the
outputs are still as boot.py left them: contactor open, CP not offering.
Then the board restarts, as its watchdog would, so that a version on trial
(see boot.py) is rolled back at the next boot. On the ESP32 that is
``machine.reset()`` after a pause that leaves time to interrupt from the
REPL. The simulator has no ``machine.reset``: it exits with code 75, which
``evsectl sim`` answers with a restart, but only while a trial is pending;
otherwise the error ends the simulator, so a broken build shows its
traceback instead of restarting forever.

This file stays alive while the firmware runs, so it is kept small.
"""

import sys

try:
    from app.runtime import main

    main()
except Exception as e:  # not SystemExit (a requested restart) nor KeyboardInterrupt
    print("main: the firmware failed to run")
    getattr(sys, "print_exception", print)(e)
    try:
        from machine import reset
    except ImportError:  # the simulator
        try:
            with open("slots.json") as f:
                trial = "previous" in f.read()
        except OSError:
            trial = False
        if trial:
            raise SystemExit(75)
        raise e
    import time

    time.sleep(5)
    reset()
