"""An asyncio event loop in a background thread.

The simulated meters and the fault links are asyncio servers, but they live
beside blocking code: ``evsectl sim`` supervising the firmware, a test, the
``meter-sim`` command waiting for Ctrl-C. Each runs its servers on a loop of
its own in a daemon thread and talks to it through ``run``.
"""

import asyncio
import threading


class LoopThread:
    def __init__(self, name):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro, timeout=10):
        """Run ``coro`` on the loop; wait here for its result (or exception)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self):
        """Cancel whatever still runs on the loop, then end the thread."""
        if self.loop.is_closed():
            return
        self.run(_cancel_others())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


async def _cancel_others():
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
