"""Firmware Management (OCPP 1.6 section 6.25, 4.5): UpdateFirmware through
the charger's own OTA path (app.ota), with every FirmwareStatusNotification.

``location`` is the URL of an update server: a directory served over plain
HTTP in the layout ``evsectl ota serve`` serves (``<location>/<board>/
manifest.json``, ``<location>/<board>/<version>/...``; any static web server
holding ``evsectl ota``'s output will do). The newest signed bundle there
for this board is installed if it is newer than the running version. The
manifest's signature is checked before a byte of the bundle is fetched, and
every file's SHA-256 as it streams in, so an unsigned, wrongly signed or
tampered bundle fails while it is being *retrieved*: DownloadFailed, the
inactive slot emptied, nothing switched.

The steps, each reported:

1. wait for ``retrieveDate`` (the charger's clock, once the central system
   gave the time) and for no transaction to run (a restart would end it);
2. Downloading; the bundle into the inactive slot (app.ota.download), up to
   ``retries`` attempts ``retryInterval`` s apart; then Downloaded, or
   DownloadFailed after the last;
3. if a transaction started meanwhile, wait for its end again; Installing:
   the slot made active on trial (app.ota.switch), a transaction that began
   in the last moment stopped and journalled (Reboot) as Reset does, and the
   restart;
4. after the restart, the version that runs says how it went: the new one
   reports Installed once it has confirmed itself healthy (app.ota.confirm);
   the old one, rolled back by boot.py, reports InstallationFailed.

The job is on flash (``FILE``) from the request until it is reported, so a
restart in between resumes it. Imported on the first UpdateFirmware, or at
start when ``FILE`` holds a job (heap).
"""

import json
import os

from app import log
from app.atomic import read_json, write_atomic
from ocpp.jobs import after_ms, state, tell, unload, until

ACTION = "FirmwareStatusNotification"
FILE = "ocpp.fw"  # the job, on flash (ChargePoint.run looks for it)


def update(cp, p):
    """UpdateFirmware.conf (empty) for request ``p``; the job starts at once."""
    location = p.get("location")
    when = p.get("retrieveDate")
    if not isinstance(location, str) or not isinstance(when, str):
        from ocpp.chargepoint import CallError

        raise CallError("location and retrieveDate must be strings")
    from ocpp import timefmt

    retries = p.get("retries")
    interval = p.get("retryInterval")
    job = {"location": location, "at": timefmt.parse(when), "phase": "waiting",
           "retries": retries if isinstance(retries, int) and retries > 0 else 1,
           "interval": interval if isinstance(interval, int) and interval >= 0 else 60}
    write_atomic(FILE, json.dumps(job))
    start(cp)
    return {}


def start(cp):
    """Run the job on flash (ChargePoint.run calls this at start if there is one)."""
    import asyncio

    jobs = state(cp)
    if jobs.get("firmware") is not None:
        jobs["firmware"].cancel()  # a new UpdateFirmware replaces the one that waits
    jobs["firmware"] = asyncio.create_task(resume(cp))


async def resume(cp):
    """Carry the job on flash on, from where it is."""
    job = read_json(FILE)
    try:
        if job.get("phase") == "installing":
            await _report_install(cp, job)
        elif "location" in job:
            await _run(cp, job)
    finally:
        cp.jobs.pop(ACTION, None)  # Idle
        unload("ocpp.firmware")


async def _tell(cp, status):
    await tell(cp, ACTION, status)


def _idle(cp):
    """No transaction, none about to be journalled, no vehicle drawing."""
    return cp.tx_ref is None and cp._pending is None and not cp.m.transaction_active and not cp.charger.charging()


async def _run(cp, job):
    at = job.get("at")
    if at is not None:
        await until(lambda: cp._epoch() is not None and cp._epoch() >= at)
    if not _idle(cp):
        log.info("ocpp: firmware update waits for the transaction to end")
        await until(lambda: _idle(cp))
    got = await _download(cp, job)
    if got is None:
        _remove()
        return
    await _tell(cp, "Downloaded")
    if not _idle(cp):
        await until(lambda: _idle(cp))
    from app import ota

    job["phase"] = "installing"
    job["version"] = got[0]
    write_atomic(FILE, json.dumps(job))
    await _tell(cp, "Installing")
    ota.switch(cp.charger, *got)
    ota._unload()
    if cp._pending is not None:
        cp._resolve()
    if cp.tx_ref is not None:  # began in the last moment: its Stop on flash before the restart
        from charger import events as E

        cp.m.stop_transaction(E.REASON_REBOOT)
        cp._stop("Reboot")
    cp.charger.restart_soon()


async def _download(cp, job):
    """(version, slot, active slot) in the inactive slot, or None (DownloadFailed told)."""
    from app import ota

    charger = cp.charger
    attempts = job["retries"]
    why = None
    for attempt in range(attempts):
        if attempt:
            await after_ms(cp, job["interval"] * 1000)
            await until(lambda: _idle(cp))
        await _tell(cp, "Downloading")
        if charger.ota_busy:
            why = "another update is running"
            continue
        charger.ota_busy = True
        try:
            got = await ota.download(charger, job["location"])
            if got is not None:
                return got
            why = "no newer version at %s" % job["location"]
            break
        except Exception as e:  # OtaError, OSError, MemoryError: the slot is emptied, the running version carries on
            why = str(e) if isinstance(e, ota.OtaError) else repr(e)
            log.warn("ocpp: firmware download attempt %d of %d: %s" % (attempt + 1, attempts, why))
        finally:
            charger.ota_busy = False
    charger.ota_msg = "Update failed: %s" % why
    ota._unload()
    await _tell(cp, "DownloadFailed")
    return None


async def _report_install(cp, job):
    """After the restart into the new version (or back, rolled back)."""
    from version import VERSION

    if VERSION == job.get("version"):
        # Installed once it is kept: the trial (app.ota.confirm) ends with
        # slots.json without "previous", or with a restart into the old one.
        await until(lambda: "previous" not in read_json("slots.json"))
        await _tell(cp, "Installed")
    else:
        log.warn("ocpp: firmware %s did not come up healthy; running %s" % (job.get("version"), VERSION))
        await _tell(cp, "InstallationFailed")
    _remove()


def _remove():
    try:
        os.remove(FILE)
    except OSError:
        pass
