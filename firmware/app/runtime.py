"""The firmware runtime: wires board, kernel, configuration and WebAPI, and
runs them as cooperative asyncio tasks.

    control       every 10 ms: read the board, step the kernel, apply (app.control)
    web           the WebAPI (microdot)
    housekeeping  once a second: garbage collection, heap statistics
    wifi          station connection with fallback to an access point
    ocpp          the OCPP 1.6J charge point, when OcppEndpoint is set (ocpp.chargepoint)
    cfos-*        the cFos manager's Modbus server and HTTP input, when CfosModbus
                  or CfosUrl is set (cfos.service)
    mqtt, mqtt-*  the MQTT client and its adapters (Home Assistant, Josev, EVerest),
                  when MqttBroker is set (mqtt.service)

An exception or MemoryError in any task but control is logged and the task
restarted; the control task never waits on them. On the simulated board
(``"hal": "sim"``) the simulator's control API is served as well, and time
may be virtual.
"""

import asyncio
import gc

from app import log
from hal import board as boardfile, open_board
from app.atomic import read_json
from app.clock import RealClock, VirtualClock
from app.config import ConfigStore, remove_leftovers
from app.control import Controller
from app.metering import Metering
from charger.manager import EvseManager
from evse.kernel import Kernel, Settings
from version import VERSION

RESTART_DELAY_MS = 300  # lets the answer to Reset reach the client first
WATCHDOG_MS = 2000  # a control loop stuck this long resets the board
GC_MIN_BYTES = 2048  # the collector's threshold after boot, at the least (run())
MAINTENANCE_MS = 1800000  # stopped at the REPL: the board restarts by itself after 30 min


class Charger:
    def __init__(self, board_path="board.json", config_path="config.json", sim_path="sim.json"):
        board = boardfile.load(board_path)
        self.hal, self.wifi = open_board(board)
        self.hal.safe()  # before anything else can go wrong
        self.board = boardfile.identity(board)
        self.web_limits = board.get("web", {})  # connections, buffer: app.webapi.Server
        self.kernel = Kernel(boardfile.params(board), Settings())
        self.version = VERSION
        self.sim = read_json(sim_path) if self.board["hal"] == "sim" else {}
        remove_leftovers(config_path)
        self.config = ConfigStore(config_path, fixed={"LockMethod": self.kernel.params.lock_method})
        self.clock = VirtualClock() if self.sim.get("virtual_time") else RealClock()
        # The one interface every protocol steers through (charger.manager).
        self.manager = EvseManager(self)
        self.metering = Metering(self)
        self.apply_config()
        self.controller = Controller(self.kernel, self.hal, self.clock, self.manager)
        # Firmware updates: app.ota does the work, imported only when it runs.
        slots = read_json("slots.json")
        self.ota_trial = "previous" in slots  # boot.py started a new version on trial
        self.ota_msg = None  # the update module's last word (OTAMsg)
        if "rolled_back" in slots:
            self.ota_msg = "Update to %s did not come up healthy; rolled back to %s" % (slots["rolled_back"], VERSION)
        self.ota_busy = False
        self.ota_available = None  # the newer version the last check found
        self.heap_min_free = self.heap_free()
        self.crash_next = None  # the simulator's fault injection for tasks
        self.ocpp = None  # the OCPP charge point, once its task has made it
        self.mqtt = None  # the MQTT client (mqtt.client), when MqttBroker is set
        self._main = None  # the task of run(): cancelled to stop the firmware
        if self.board["hal"] == "sim":
            self.hal.restore(self.sim.get("state_file"))

    # -- configuration -------------------------------------------------------

    def apply_config(self, changed=()):
        """Make the running charger follow the configuration (``changed``: the
        keys just written; meters are rebuilt only when theirs change)."""
        self.manager.apply_settings(changed)

    def phases(self):
        return 3 if self.kernel.settings.three_phase else 1

    async def advance(self, ms):
        """Virtual time: run the control loop for ``ms``, with a meter poll
        cycle every MeterPollMs of it, as the real-time tasks would, and
        the OCPP charge point's timers (its step) after each."""
        clock = self.clock
        period = self.config["MeterPollMs"]
        while ms > 0:
            step = min(ms, period - clock.uptime_ms() % period)
            self.controller.advance(step)
            ms -= step
            if clock.uptime_ms() % period == 0:
                await self.metering.cycle()
            if self.ocpp is not None:
                self.ocpp.step()

    # -- what the WebAPI reports -------------------------------------------------

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

    # -- firmware update (the work is in app.ota) ---------------------------------

    def charging(self):
        k = self.kernel
        return k.relay or (k.started and k.connected)

    def ota_refusal(self, run, server=None):
        """Why an update check (with ``run``: an update) cannot start now, or None."""
        import os

        if self.wifi.mode == "ap":
            return "Operation not allowed in WiFi AP mode!"
        if not (server or self.config["UpdateServer"]):
            return "No update server configured"
        try:
            os.stat("ota_pubkey.json")
        except OSError:
            return "No OTA public key installed (ota_pubkey.json)"
        if self.ota_busy:
            return "An update operation is already running"
        if run and self.charging():
            return "Not allowed while a vehicle is charging"
        return None

    def ota_message(self):
        """OTAMsg: the update module's last word, else why it cannot run now."""
        return self.ota_msg or self.ota_refusal(False) or ""

    def start_ota(self, action, server=None):
        """Start ``"check"`` or ``"run"`` in the background (see app.ota)."""
        from app import ota

        self.ota_busy = True
        self.ota_msg = "Contacting the update server"
        asyncio.create_task(ota.perform(self, action, server))

    # -- tasks --------------------------------------------------------------------

    def restart_soon(self):
        asyncio.create_task(self._restart())

    async def _restart(self):
        await asyncio.sleep(RESTART_DELAY_MS / 1000)
        log.info("restarting")
        self._main.cancel()

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
            self._main.cancel()  # restart: never run on without the control task

    async def _housekeeping(self):
        while True:
            if self.crash_next:
                kind, self.crash_next = self.crash_next, None
                raise MemoryError("injected") if kind == "MemoryError" else RuntimeError("injected")
            self.heap_info()  # the low point is just before a collection
            gc.collect()
            await asyncio.sleep(1)

    async def _ocpp(self):
        # Made inside the guarded task: whatever fails in OCPP, the charger charges on.
        if self.ocpp is None:
            # Loaded as boot.py loads the rest: collecting every few KiB, so
            # that OCPP's code and state (some 18 KB) settle packed together
            # rather than in the holes the web server's garbage leaves.
            _packed(True)
            try:
                from ocpp.chargepoint import ChargePoint  # not configured: never imported

                self.ocpp = ChargePoint(self)
            finally:
                _packed(False)
        await self.ocpp.run()

    def _start_mqtt(self):
        # Loaded packed, as OCPP is (see _ocpp). Whatever fails here (a
        # module missing from this firmware, say), the charger charges on.
        _packed(True)
        try:
            from mqtt.service import tasks  # not configured: never imported

            for name, task in tasks(self):
                asyncio.create_task(self._guarded(name, task))
        except Exception as e:
            log.error("mqtt: not started", e)
        finally:
            _packed(False)

    async def _serve(self):
        await self.web.start_server(host=self.sim.get("host", "0.0.0.0"), port=self.sim.get("port", 80))

    async def run(self):
        from app import webapi

        self.web = webapi.create(self, **self.web_limits)
        if self.board["hal"] == "sim":
            from app import simapi

            simapi.install(self.web, self)
        c = self.config
        if c["OcppEndpoint"]:
            # Before the control loop's first step: a vehicle plugged in at
            # power-up must wait for its transaction's record too.
            self.manager.require_start_record()
        self.wifi.start(c["WiFiSSID"], c["WiFiPassword"], c["DeviceName"])
        if not self.clock.virtual:
            self.hal.start_watchdog(WATCHDOG_MS)
            asyncio.create_task(self._control())
            asyncio.create_task(self._guarded("meters", self.metering.run))
        asyncio.create_task(self._guarded("web", self._serve))
        asyncio.create_task(self._guarded("housekeeping", self._housekeeping))
        asyncio.create_task(self._guarded("wifi", self.wifi.supervise))
        if c["OcppEndpoint"]:
            asyncio.create_task(self._guarded("ocpp", self._ocpp))
        if c["CfosModbus"] or c["CfosUrl"]:
            from cfos.service import tasks  # not configured: never imported

            for name, task in tasks(self):
                asyncio.create_task(self._guarded(name, task))
        if c["MqttBroker"]:
            self._start_mqtt()
        if self.ota_trial:
            from app import ota

            asyncio.create_task(ota.confirm(self))
        gc.collect()
        self.heap_min_free = self.heap_free()
        try:
            # boot.py had the collector run every 2 KiB allocated, to pack
            # what the imports leave. From here a collection runs when a
            # quarter of the heap left free has been allocated: as often
            # on a tight heap, far less often on a roomy one, where each
            # request's few KB of garbage cost a full collection of the
            # heap (issue 19: most of the CPU of an answer).
            gc.threshold(max(GC_MIN_BYTES, self.heap_min_free // 4))
        except AttributeError:  # CPython
            pass
        log.info(
            "boot: EVSE %s on board %s ready, heap free %d used %d"
            % (self.version, self.board["name"], self.heap_min_free, self._heap_used())
        )
        # The tasks do the work; this waits for a restart to cancel it (a
        # cancel, not an asyncio.Event: that would load 1 KB of asyncio).
        self._main = asyncio.current_task()
        try:
            while True:
                await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass
        self.hal.safe()


def _packed(on):
    """gc.threshold: every GC_MIN_BYTES while long-lived objects are made
    (``on``), else a quarter of the heap left free (see Charger.run)."""
    gc.collect()
    try:
        gc.threshold(GC_MIN_BYTES if on else max(GC_MIN_BYTES, gc.mem_free() // 4))
    except AttributeError:  # CPython
        pass


def main():
    log.keep()  # warnings and errors to flash too, for diagnostics (app.log)
    charger = Charger()
    try:
        asyncio.run(charger.run())
    except KeyboardInterrupt:
        # Ctrl-C at the REPL, as mpremote sends before copying files
        # (evsectl deploy, console): the app stops, the contactor opens, and
        # the 2 s watchdog must not reset the board in the middle of the
        # copy. Stretched, it still brings a forgotten charger back.
        charger.hal.safe()
        held = charger.hal.hold_watchdog(MAINTENANCE_MS)
        if held:
            log.info("main: interrupted (Ctrl-C), outputs safe; the board restarts by itself in %d min" % (held // 60000))
        else:
            log.info("main: interrupted (Ctrl-C), outputs safe")
        raise
    finally:
        charger.hal.safe()
    charger.hal.restart()
