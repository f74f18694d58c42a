"""A null-modem cable made of two ptys, by ``socat`` (Debian package socat).

What one end writes, the other reads, as through a pair of USB-RS485
adapters on one bus: a simulated meter serves on ``a``, a client opens ``b``.
"""

import shutil
import subprocess
import time
from pathlib import Path


class PtyPair:
    def __init__(self, folder):
        self.a = str(Path(folder) / "pty-a")
        self.b = str(Path(folder) / "pty-b")
        self._proc = None

    def __enter__(self):
        socat = shutil.which("socat")
        if socat is None:
            raise RuntimeError("socat is not installed (apt-get install socat)")
        self._proc = subprocess.Popen([socat, "pty,raw,echo=0,link=" + self.a, "pty,raw,echo=0,link=" + self.b],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while not (Path(self.a).exists() and Path(self.b).exists()):
            if time.monotonic() > deadline or self._proc.poll() is not None:
                self.__exit__()
                raise RuntimeError("socat made no pty pair")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self._proc.terminate()
        self._proc.wait(5)
