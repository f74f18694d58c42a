"""The control task: read the board, step the kernel, apply the outputs.

``tick()`` is the whole control tick. It allocates nothing, so the heap can
be locked around it and garbage collection never delays a relay decision.
"""

from app import log
from app.aio import sleep_ms, ticks_add, ticks_diff, ticks_ms
from evse.compat import TICKS_MASK

PERIOD_MS = 10
COARSE_MS = 1000  # virtual time: step size while the kernel has nothing pending


class Controller:
    def __init__(self, kernel, board, clock, manager=None):
        self.kernel = kernel
        self.manager = manager  # charger.manager.EvseManager: limits and session events
        self.board = board
        self.clock = clock
        self.ticks = 0  # ticks run since boot, modulo 2^30
        self.overruns = 0  # ticks that started a whole period late

    def tick(self):
        now = self.clock.ticks()
        k = self.kernel
        self.board.read(now, k.inputs)
        k.step(now)
        if self.manager is not None:
            self.manager.step(now)  # before the outputs: its limit counts from the next step
        self.board.write(now, k)
        self.board.feed_watchdog()
        # Wraps rather than becoming a long int (after 124 days): it is only
        # compared, to see that the loop runs.
        self.ticks = self.ticks + 1 if self.ticks < TICKS_MASK else 0

    def advance(self, ms):
        """Virtual time: run the control loop for ``ms`` simulated milliseconds.

        Steps are PERIOD_MS long, except while the kernel reports nothing
        pending (``kernel.quiet``): then nothing but accounting can change,
        and it is exact for any step, so longer steps are taken. The inputs
        may have changed since the last call, so each call starts with a few
        fine steps before it trusts ``quiet``.
        """
        clock = self.clock
        calm = 0
        while ms > 0:
            calm = calm + 1 if self.kernel.quiet else 0
            step = COARSE_MS if calm > 3 else PERIOD_MS
            if step > ms:
                step = ms
            clock.advance(step)
            ms -= step
            self.tick()

    async def run(self):
        """Tick every PERIOD_MS of real time, on a fixed schedule."""
        due = ticks_ms()
        while True:
            try:
                self.tick()
            except Exception as e:
                # A bug here must not leave the contactor closed.
                self.board.safe()
                log.error("control tick failed, contactor opened", e)
                raise
            due = ticks_add(due, PERIOD_MS)
            wait = ticks_diff(due, ticks_ms())
            if wait < 0:
                self.overruns += 1
                due = ticks_ms()
                wait = 0
            await sleep_ms(wait)
