"""The firmware runtime: wires board, kernel, configuration and WebAPI, and
runs them as cooperative asyncio tasks.

    control       every 10 ms: read the board, step the kernel, apply (app.control)
    web           the WebAPI (microdot)
    housekeeping  once a second: garbage collection, heap statistics
    wifi          station connection with fallback to an access point

An exception or MemoryError in any task but control is logged and the task
restarted; the control task never waits on them. On the simulated board
(``"hal": "sim"``) the simulator's control API is served as well, and time
may be virtual.
"""

import asyncio
import gc
import json

from app import log
from hal import board as boardfile, open_board
from app.clock import RealClock, VirtualClock
from app.config import ConfigStore, remove_leftovers
from app.control import Controller
from evse import states as S
from evse.kernel import Kernel, Settings
from version import VERSION

RESTART_DELAY_MS = 300  # lets the answer to Reset reach the client first
WATCHDOG_MS = 2000  # a control loop stuck this long resets the board


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


class Charger:
    def __init__(self, board_path="board.json", config_path="config.json", sim_path="sim.json"):
        self.board = boardfile.load(board_path)
        self.hal, self.wifi = open_board(self.board)
        self.hal.safe()  # before anything else can go wrong
        self.version = VERSION
        self.sim = _read_json(sim_path) if self.board["hal"] == "sim" else {}
        remove_leftovers(config_path)
        self.config = ConfigStore(config_path)
        self.kernel = Kernel(boardfile.params(self.board), Settings())
        self._power_available_w = -1  # EVSEPowerAvailable; -1: never written
        self.apply_config()
        self.clock = VirtualClock() if self.sim.get("virtual_time") else RealClock()
        self.controller = Controller(self.kernel, self.hal, self.clock)
        self.ota_msg = "No update server configured"
        self.heap_min_free = self.heap_free()
        self.crash_next = None  # the simulator's fault injection for tasks
        self._stop = asyncio.Event()
        if self.board["hal"] == "sim":
            self.hal.restore(self.sim.get("state_file"))

    # -- configuration -------------------------------------------------------

    def apply_config(self):
        c = self.config
        st = self.kernel.settings
        st.charge_current_a = c["ChargeCurrent"]
        st.boost_current_a = c["ChargeCurrentBoost"]
        st.auto_start = c["ChargeAutoStart"]
        st.three_phase = c["Charge3Phase"]
        st.case_b = c["ChargerMode"] == 1
        st.lock_method = c["LockMethod"]
        st.ventilation = c["VentilationAvailable"]
        self._update_limit()

    def _phases(self):
        return 3 if self.kernel.settings.three_phase else 1

    def _update_limit(self):
        k = self.kernel
        if self.config["ControlStrategy"] == 1 and self._power_available_w >= 0:
            k.limit_a = self._power_available_w // (k.params.nominal_voltage * self._phases())
        else:
            k.limit_a = 80

    def set_power_available(self, watts):
        self._power_available_w = int(watts)
        self._update_limit()

    def power_available_w(self):
        """ActualPowerAvailable: only meaningful while an algorithm is active."""
        if self.config["ControlStrategy"] != 1 or self._power_available_w < 0:
            return 0
        k = self.kernel
        return k.limit_a * k.params.nominal_voltage * self._phases()

    # -- what the WebAPI reports -------------------------------------------------

    def meter_errors(self, n):
        return 0  # no meter is polled yet: nothing can fail

    def meter_data(self, n):
        return {}

    def heap_free(self):
        try:
            return gc.mem_free()
        except AttributeError:  # CPython has no fixed heap
            return 0

    def _heap_used(self):
        try:
            return gc.mem_alloc()
        except AttributeError:
            return 0

    def heap_info(self):
        """HeapInfo: lowest free heap seen since boot / free now, as the original shows it."""
        free = self.heap_free()
        if free < self.heap_min_free:
            self.heap_min_free = free
        return "0x%06X/0x%06X" % (self.heap_min_free, free)

    def general_info(self):
        k = self.kernel
        if k.cause:
            return "System: " + S.CAUSES[k.cause]
        if k.latched or k.fault:
            return "System: " + S.NAMES[k.latched or k.fault]
        if k.state == S.VENT_D and not k.settings.ventilation:
            return "System: vehicle requires ventilation, which is not available"
        return "System: no faults"

    def why_not_startable(self):
        k = self.kernel
        if k.latched or k.fault:
            return S.NAMES[k.latched or k.fault]
        if not k.connected:
            return "no vehicle connected"
        return "starting up"

    # -- tasks --------------------------------------------------------------------

    def restart_soon(self):
        asyncio.create_task(self._restart())

    async def _restart(self):
        await asyncio.sleep(RESTART_DELAY_MS / 1000)
        log.info("restarting")
        self._stop.set()

    async def _guarded(self, name, task):
        """Run ``task()`` forever: a failure is logged and the task started again."""
        while True:
            try:
                await task()
            except Exception as e:  # MemoryError included
                log.error("task %s failed; restarting it" % name, e)
            await asyncio.sleep(1)

    async def _control(self):
        try:
            await self.controller.run()
        except Exception:  # already logged, contactor already open
            self._stop.set()  # restart: never run on without the control task

    async def _housekeeping(self):
        while True:
            if self.crash_next:
                kind, self.crash_next = self.crash_next, None
                raise MemoryError("injected") if kind == "MemoryError" else RuntimeError("injected")
            self.heap_info()  # the low point is just before a collection
            gc.collect()
            await asyncio.sleep(1)

    async def _serve(self):
        await self.web.start_server(host=self.sim.get("host", "0.0.0.0"), port=self.sim.get("port", 80))

    async def run(self):
        from app import webapi

        self.web = webapi.create(self)
        if self.board["hal"] == "sim":
            from app import simapi

            simapi.install(self.web, self)
        c = self.config
        self.wifi.start(c["WiFiSSID"], c["WiFiPassword"], c["DeviceName"])
        if not self.clock.virtual:
            self.hal.start_watchdog(WATCHDOG_MS)
            asyncio.create_task(self._control())
        asyncio.create_task(self._guarded("web", self._serve))
        asyncio.create_task(self._guarded("housekeeping", self._housekeeping))
        asyncio.create_task(self._guarded("wifi", self.wifi.supervise))
        gc.collect()
        self.heap_min_free = self.heap_free()
        log.info(
            "boot: EVSE %s on board %s ready, heap free %d used %d"
            % (self.version, self.board["name"], self.heap_min_free, self._heap_used())
        )
        await self._stop.wait()
        self.hal.safe()


def main():
    charger = Charger()
    try:
        asyncio.run(charger.run())
    finally:
        charger.hal.safe()
    charger.hal.restart()
