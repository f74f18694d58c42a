"""The energy meters of ``evsectl sim``, fed by the simulated site.

Two meters whose values come from the firmware's own simulator
(``GET /sim/v1/Site``): meter 1 is the charger's own meter and sees the
vehicle's draw; meter 2 is the site meter and sees the household's load
plus the charger's. The firmware can reach them both ways it supports:

- an RS485 bus, RTU framing over TCP (what the simulated board's UART is
  wired to), meter 1 at unit 1 and meter 2 at unit 2;
- a Modbus TCP gateway holding the same two units.

Each sits behind a fault link whose faults follow ``Meter1Fault`` (unit 1)
and ``Meter2Fault`` (unit 2) of the same document.
"""

import functools
import http.client
import json
import threading
import time
import urllib.request

from evsectl import metersim
from evsectl.faultlink import FaultLink

DEFAULT_MODEL = "SDM72D-M v2"


class SiteFeed:
    """``/sim/v1/Site``, fetched when a meter is read and kept ``max_age``
    seconds, so the reads of one poll cycle see one moment."""

    def __init__(self, url, max_age=0.05):
        self.url = url
        self.max_age = max_age
        self._lock = threading.Lock()  # the bus, the gateway and both links read it
        self._doc = None
        self._at = 0.0

    def site(self):
        with self._lock:
            if self._doc is None or time.monotonic() - self._at > self.max_age:
                with urllib.request.urlopen(self.url, timeout=2) as answer:
                    self._doc = json.load(answer)
                self._at = time.monotonic()
            return self._doc

    def meter(self, unit):
        """What meter ``unit`` (1: charger, 2: site) measures now."""
        site = self.site()
        amps = site["ChargerA"]  # meter 1 sits in the charger's feed: its conductors' order
        if unit == 2:  # the site meter: its phases, the charger's draw as the charger is wired
            amps = [house + charger for house, charger in zip(site["HouseholdA"], site["SupplyA"])]
        energy = site["ChargerImportWh"] if unit == 1 else site["SiteImportWh"]
        return {"VoltageV": site["VoltageV"], "CurrentA": amps, "ImportWh": energy, "ExportWh": 0.0}

    def fault(self, unit):
        """The fault asked for meter ``unit``; none while the site cannot be read
        (the meter itself then answers with a device failure)."""
        try:
            return self.site().get("Meter%dFault" % unit)
        except (OSError, http.client.HTTPException, ValueError):
            return None


class SimMeters:
    """Meter 1 and meter 2 on a simulated bus and gateway, for the firmware
    whose WebAPI (and simulator control API) listens on ``sim_port``."""

    def __init__(self, sim_port, model1=DEFAULT_MODEL, model2=DEFAULT_MODEL, slow_ms=500):
        m = metersim.models()
        self.models = (m.by_name(model1), m.by_name(model2))  # ValueError names the known models
        # No caching across reads: in virtual time a poll cycle a few real ms
        # after the last may be seconds later for the site.
        self.feed = SiteFeed("http://127.0.0.1:%d/sim/v1/Site" % sim_port, max_age=0)
        self.slow_ms = slow_ms
        self.bus = self.gateway = None
        self._running = []

    def start(self):
        meters = [metersim.Meter(model, functools.partial(self.feed.meter, unit), unit)
                  for unit, model in ((1, self.models[0]), (2, self.models[1]))]
        try:
            bus = self._run(metersim.MeterServer(meters, "rtu-over-tcp"))
            gateway = self._run(metersim.MeterServer(meters, "tcp"))
            self.bus = self._run(FaultLink(bus.port, "rtu", fault=self.feed.fault, slow_ms=self.slow_ms))
            self.gateway = self._run(FaultLink(gateway.port, "mbap", fault=self.feed.fault, slow_ms=self.slow_ms))
        except BaseException:
            self.stop()
            raise
        return self

    def _run(self, part):
        part.start()
        self._running.append(part)
        return part

    def stop(self):
        while self._running:
            self._running.pop().stop()

    def settings(self):
        """What the firmware's sim.json says about them."""
        return {"rs485": "tcp://127.0.0.1:%d" % self.bus.port, "modbus_gateway": "127.0.0.1:%d" % self.gateway.port}

    def summary(self):
        return "Simulated meters: RS485 bus tcp://127.0.0.1:%d (unit 1 %s, unit 2 %s), Modbus TCP gateway 127.0.0.1:%d" % (
            self.bus.port, self.models[0].name, self.models[1].name, self.gateway.port)
