"""What the Firmware Management jobs share (ocpp.firmware's update,
ocpp.diagnostics's upload): their state, waiting on the charger's clock, and
reporting a status to the central system.

Their state is one dict on the charge point, ``cp.jobs`` (None until a job
or Eaton's DataTransfer needs it): ``"FirmwareStatusNotification"`` and
``"DiagnosticsStatusNotification"`` the status a TriggerMessage reports
(Idle when absent), ``"firmware"`` and ``"diagnostics"`` the task of a job
that runs, ``"vendor"`` Eaton's DataTransfer messages waiting to be sent.

The jobs run beside the link task; they wait by looking again every
``POLL_MS`` of real time at conditions that are on the charger's clock
(virtual in the simulator), so virtual time moves them as it moves the
OCPP timers.
"""

from app import log
from app.aio import sleep_ms
from evse.compat import ticks_diff

POLL_MS = 250


def state(cp):
    """``cp.jobs``, made when first needed."""
    if cp.jobs is None:
        cp.jobs = {}
    return cp.jobs


def status(cp, action):
    """What a triggered ``action`` (Firmware- or DiagnosticsStatusNotification) reports."""
    return cp.jobs.get(action, "Idle") if cp.jobs else "Idle"


async def until(ready):
    while not ready():
        await sleep_ms(POLL_MS)


async def after_ms(cp, ms):
    """Wait ``ms`` of the charger's clock."""
    since = cp.clock.ticks()
    await until(lambda: ticks_diff(cp.clock.ticks(), since) >= ms)


def online(cp):
    return cp.accepted and cp.ws is not None and not cp.link_lost


async def tell(cp, action, status):
    """A FirmwareStatusNotification or DiagnosticsStatusNotification
    (``action``), once online. One lost with the link is not sent again:
    the next, or a TriggerMessage, tells."""
    from ocpp.chargepoint import CallError

    state(cp)[action] = status
    await until(lambda: online(cp))
    try:
        await cp.call(action, {"status": status})
    except CallError as e:
        log.warn("ocpp: %s %s: %s" % (action, status, e))


def unload(*names):
    """Hand the heap of modules ``names`` ("package.module") back once a job
    is over: they are rarely needed again, and the next import loads them
    afresh (as app.ota does for itself)."""
    import sys

    for name in names:
        sys.modules.pop(name, None)
        package, _, module = name.rpartition(".")
        try:
            delattr(sys.modules[package], module)
        except (KeyError, AttributeError):
            pass
