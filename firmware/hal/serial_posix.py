"""A serial device on a Linux machine (a USB-RS485 adapter, a pty), with the
``write``/``any``/``read`` calls of the ESP32's UART, for meters.link.SerialPort.

The line settings (speed, parity, raw mode) are the device's own: set them
with ``stty`` or the tool that made the pty; MicroPython's unix port has no
termios.
"""

import select


class PosixSerial:
    def __init__(self, path):
        self._f = open(path, "r+b", buffering=0)
        self._poll = select.poll()
        self._poll.register(self._f, select.POLLIN)

    def write(self, data):
        self._f.write(data)

    def any(self):
        return 1 if self._poll.poll(0) else 0

    def read(self, n):
        # One byte per poll: a tty read of more could wait for bytes not yet sent.
        return self._f.read(1)

    def close(self):
        self._f.close()
