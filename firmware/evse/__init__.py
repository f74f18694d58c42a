"""The charging kernel: IEC 61851-1 Mode 3 logic as pure Python.

Nothing in this package performs I/O, reads a clock or imports hardware,
network or web modules. Time and inputs come in as arguments, decisions go out
as plain attributes, so the very same files run on the ESP32, under CPython
for pytest/hypothesis and under the MicroPython unix port.
"""
