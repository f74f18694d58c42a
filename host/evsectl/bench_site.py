"""``evsectl bench``'s load-management figures: a scripted 2 h household on
a site with an 11 kW ControlLimit and 25 A a phase, a three-phase vehicle
asking 32 A the whole time, `evsectl sim` with its simulated SDM meters
(meter 1 the charger's, meter 2 the site's, both per phase), virtual time.

    site_limit_utilisation  energy delivered to the vehicle as a fraction of
                            what the limits allowed (per instant: what they
                            leave a phase, 6..32 A, else nothing)
    site_overload_s         seconds the charger's draw put the site over a limit
                            (ControlLimit or PhaseCurrentLimit), outside the
                            response window
    site_overload_ws        the watt-seconds of it (must be 0): the excess, as far
                            as the charger's own draw makes it up
    site_offer_changes      how often the current the vehicle draws changed

The response window follows every household step up: the next meter poll,
the 5 s duty rule and the vehicle's 5 s to follow (11 s). The site is
sampled every STEP_MS, as its meters are fed (/sim/v1/Site).
"""

import http.client
import json
import random
import subprocess
import sys
import time
from pathlib import Path

LIMIT_W = 11000
PHASE_LIMIT_A = 25
ASK_A = 32
VOLT = 230
MIN_A = 6
DURATION_S = 2 * 3600
STEP_MS = 2000
RESPONSE_MS = 1000 + 5000 + 5000


def household_a(t):
    """The household's current per phase at second ``t`` of the profile."""
    a = [2.2, 2.2, 2.2]  # 1.5 kW base load
    if t % 1500 < 900:  # heat pump: 3 kW three-phase, 15 min on, 10 min off
        a = [x + 4.35 for x in a]
    if 1200 <= t < 1380 or 4500 <= t < 4680:  # kettle, 2.2 kW on L1
        a[0] += 9.6
    if 2400 <= t < 4200:  # oven, 3.5 kW on L2
        a[1] += 15.2
    if 3000 <= t < 3300:  # a dryer on top, 2 kW over the three phases
        a = [x + 2.9 for x in a]
    if 6000 <= t < 6600:  # sauna, 3.5 kW on L3
        a[2] += 15.2
    return a


def _noise(rng):
    return [round(rng.uniform(-0.3, 0.3), 2) for _ in range(3)]


def allowed_a(house):
    """What the limits leave the vehicle per phase (continuous), 0 below 6 A."""
    a = min(ASK_A, (LIMIT_W - sum(house) * VOLT) / (3 * VOLT), min(PHASE_LIMIT_A - h for h in house))
    return a if a >= MIN_A else 0


def _charger_excess_w(household, charger):
    """How far over its limits the charger's draw (per site phase) takes the
    site, in W: over ControlLimit, or over PhaseCurrentLimit on a phase (at
    230 V), each only as far as the charger's part of it."""
    site_w = (sum(household) + sum(charger)) * VOLT
    worst = min(max(0.0, site_w - LIMIT_W), sum(charger) * VOLT)
    for h, c in zip(household, charger):
        worst = max(worst, min(max(0.0, h + c - PHASE_LIMIT_A), c) * VOLT)
    return worst


class _Client:
    def __init__(self, port):
        self.port = port

    def call(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None)
            r = conn.getresponse()
            data = json.loads(r.read())
            if r.status != 200:
                raise RuntimeError("%s %s: %s %s" % (method, path, r.status, data))
            return data
        finally:
            conn.close()


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(workdir):
    port = _free_port()
    dev = Path(workdir) / "site-device"
    log = open(Path(workdir) / "site-sim.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "evsectl", "sim", "--port", str(port), "--device-dir", str(dev),
                             "--virtual-time"], stdout=log, stderr=subprocess.STDOUT)
    c = _Client(port)
    deadline = time.monotonic() + 30
    while True:
        try:
            c.call("GET", "/webapi/v1/Status")
            break
        except (OSError, http.client.HTTPException, ValueError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("evsectl sim did not start (see %s)" % log.name)
            time.sleep(0.1)
    gateway = json.loads((dev / "sim.json").read_text())["modbus_gateway"]
    return proc, c, gateway


def run(workdir, duration_s=DURATION_S, seed=12):
    """The figures over the first ``duration_s`` of the profile."""
    proc, c, gw = _start(workdir)
    try:
        c.call("POST", "/sim/v1/Site", {"HouseholdA": household_a(0)})
        c.call("POST", "/webapi/v1/SystemConfig", {
            "Meter1Type": 4, "Meter1Ip": gw, "Meter1PerPhase": True,
            "Meter2Type": 4, "Meter2Ip": gw, "Meter2PerPhase": True,
            "ControlStrategy": 1, "ControlLimit": LIMIT_W, "PhaseCurrentLimit": PHASE_LIMIT_A, "ChargeCurrent": ASK_A,
        })
        c.call("POST", "/sim/v1/Time", {"AdvanceMs": 3000})
        c.call("POST", "/sim/v1/Vehicle", {"State": "C", "Phases": 3})
        start_wh = c.call("GET", "/sim/v1/Site")["ChargerImportWh"]
        rng = random.Random(seed)
        noise = [0.0, 0.0, 0.0]
        last_house = None
        last_rise_ms = -RESPONSE_MS
        allowed_ws = over_s = over_ws = 0.0
        changes = 0
        drawn = None
        step_s = STEP_MS / 1000
        for n in range(duration_s * 1000 // STEP_MS):
            t_ms = n * STEP_MS
            if t_ms % 30000 == 0:
                noise = _noise(rng)
            house = [round(a + d, 2) for a, d in zip(household_a(t_ms // 1000), noise)]
            if house != last_house:
                if last_house is not None and any(h > o for h, o in zip(house, last_house)):
                    last_rise_ms = t_ms
                c.call("POST", "/sim/v1/Site", {"HouseholdA": house})
                last_house = house
            c.call("POST", "/sim/v1/Time", {"AdvanceMs": STEP_MS})
            site = c.call("GET", "/sim/v1/Site")
            allowed_ws += allowed_a(house) * 3 * VOLT * step_s
            excess_w = _charger_excess_w(site["HouseholdA"], site["SupplyA"])
            if excess_w > 1 and t_ms + STEP_MS - last_rise_ms > RESPONSE_MS:
                over_s += step_s
                over_ws += excess_w * step_s
            if site["ChargerA"][0] != drawn:
                if drawn is not None:
                    changes += 1
                drawn = site["ChargerA"][0]
        delivered_ws = (c.call("GET", "/sim/v1/Site")["ChargerImportWh"] - start_wh) * 3600
        return {
            "site_limit_utilisation": round(delivered_ws / allowed_ws, 3) if allowed_ws else None,
            "site_overload_s": over_s,
            "site_overload_ws": round(over_ws, 1),
            "site_offer_changes": changes,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
