"""Runs after boot.py: the charger's firmware."""

import sys

if "lib" not in sys.path:  # the simulator's device directory keeps libraries in lib/
    sys.path.append("lib")

from app.runtime import main

main()
