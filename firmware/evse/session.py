"""Session accounting: energy and duration, in integers that never overflow
a small int on a 32-bit MicroPython (so accounting never allocates).

Energy comes from two sources. Each control tick adds power × time: the
meter's power when it is read, else the offer × nominal voltage × phases.
When the charger's meter reports its import counter, the energy since its
previous report replaces what the ticks estimated in between; so a meter
that drops out and comes back settles the gap exactly, with nothing lost or
counted twice.
"""

_MWS_PER_WH = 3600000


class Session:
    def __init__(self):
        self.reading_wh = -1  # the meter's import counter at its last report; kept across sessions
        self.clear()

    def clear(self):
        self.active = False
        self.energy_wh = 0
        self._energy_mws = 0  # remainder below 1 Wh, in mW*s (W*ms)
        self._guess_wh = 0  # part of the energy estimated since the meter's last report
        self._guess_mws = 0
        self.duration_s = 0
        self._duration_ms = 0  # remainder below 1 s
        self.estimated = True  # no meter report has settled any energy yet

    def accrue(self, dt_ms, power_w, running):
        """Add ``dt_ms`` of duration, and of energy at ``power_w`` when running."""
        self._duration_ms += dt_ms
        if self._duration_ms >= 1000:
            self.duration_s += self._duration_ms // 1000
            self._duration_ms %= 1000
        if running and power_w > 0:
            mws = power_w * dt_ms
            self._energy_mws += mws
            if self._energy_mws >= _MWS_PER_WH:
                self.energy_wh += self._energy_mws // _MWS_PER_WH
                self._energy_mws %= _MWS_PER_WH
            if self.reading_wh >= 0:
                self._guess_mws += mws
                if self._guess_mws >= _MWS_PER_WH:
                    self._guess_wh += self._guess_mws // _MWS_PER_WH
                    self._guess_mws %= _MWS_PER_WH

    def meter_report(self, import_wh):
        """The charger's meter read ``import_wh`` on its import counter."""
        last = self.reading_wh
        self.reading_wh = import_wh
        if not self.active or last < 0 or import_wh < last:
            # Nothing to settle against, or a new (reset, replaced) meter:
            # the estimate so far stands, and settling starts from here.
            self._guess_wh = self._guess_mws = 0
            return
        # Replace the estimate since the last report by the measured delta.
        wh = self.energy_wh - self._guess_wh + import_wh - last
        mws = self._energy_mws - self._guess_mws
        if mws < 0:
            wh -= 1
            mws += _MWS_PER_WH
        self.energy_wh = wh
        self._energy_mws = mws
        self._guess_wh = self._guess_mws = 0
        self.estimated = False

    @property
    def energy_ws(self):
        return self.energy_wh * 3600 + self._energy_mws // 1000
