"""Session accounting: energy and duration, in integers that never overflow
a small int on a 32-bit MicroPython (so accounting never allocates)."""


class Session:
    def __init__(self):
        self.clear()

    def clear(self):
        self.active = False
        self.energy_wh = 0
        self._energy_mws = 0  # remainder below 1 Wh, in mW*s (W*ms)
        self.duration_s = 0
        self._duration_ms = 0  # remainder below 1 s
        self.estimated = True  # energy from the offer, not from a meter

    def accrue(self, dt_ms, power_w, running):
        """Add ``dt_ms`` of duration, and of energy at ``power_w`` when running."""
        self._duration_ms += dt_ms
        if self._duration_ms >= 1000:
            self.duration_s += self._duration_ms // 1000
            self._duration_ms %= 1000
        if running and power_w > 0:
            self._energy_mws += power_w * dt_ms
            if self._energy_mws >= 3600000:
                self.energy_wh += self._energy_mws // 3600000
                self._energy_mws %= 3600000

    @property
    def energy_ws(self):
        return self.energy_wh * 3600 + self._energy_mws // 1000
