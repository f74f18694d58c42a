"""GetDiagnostics (OCPP 1.6 section 6.22, 4.4): a diagnostics file uploaded
to the central system's ``location`` (app.upload: ``ftp://`` or ``http://``
PUT), with DiagnosticsStatusNotification Uploading, then Uploaded or
UploadFailed.

The file, plain text, is written to flash first (``FILE``) and streamed
from there, so each attempt sends the same bytes and RAM holds a chunk of
it at a time:

- the charge point: box id, firmware version, time, uptime, heap;
- the warnings and errors the firmware logged (app.log keeps the last 4 to
  8 KB of them on flash, across restarts). ``startTime`` and ``stopTime``
  are not applied: the lines carry the uptime of the start they were
  logged in, which no wall-clock window selects;
- the settings as the WebAPI shows them (app.config.public: no secret,
  only whether each is set), one ``key=value`` a line;
- the OCPP journal: records waiting to be sent, its bytes on flash, the
  open transaction; the OCPP configuration keys' values (GetConfiguration's:
  none of them is a secret).

``retries`` attempts (default 1) ``retryInterval`` s apart (default 60)
on the charger's clock. The answer names the file (``diag-<box>-<time>.txt``)
at once. Imported by the first GetDiagnostics only (heap).
"""

import asyncio
import gc
import json
import os

from app import log, upload
from ocpp.jobs import after_ms, state, tell, unload

ACTION = "DiagnosticsStatusNotification"

FILE = "diag.txt"


def request(cp, p):
    """GetDiagnostics.conf for request ``p``: the file name, the upload started;
    no file name for a location this charger cannot upload to, or while
    an earlier upload still runs (or waits to retry)."""
    location = p.get("location")
    if upload.parse(location) is None:
        log.warn("ocpp: GetDiagnostics: cannot upload to %r" % location)
        return {}
    from ocpp import timefmt

    box = cp.charger.config["OcppBoxId"] or "evse"
    stamp = (cp._now() or timefmt.format(0))[:19].replace("-", "").replace(":", "")
    name = "diag-%s-%sZ.txt" % (box, stamp)
    retries = p.get("retries")
    interval = p.get("retryInterval")
    job = dict(location=location, name=name, attempts=retries if isinstance(retries, int) and retries > 0 else 1,
               interval=interval if isinstance(interval, int) and interval >= 0 else 60)
    jobs = state(cp)
    if jobs.get("diagnostics") is not None:  # one upload at a time: no file for this request
        log.warn("ocpp: GetDiagnostics while an upload runs: refused")
        return {}
    jobs["diagnostics"] = asyncio.create_task(_run(cp, job))
    return {"fileName": name}


async def _tell(cp, status):
    await tell(cp, ACTION, status)


async def _run(cp, job):
    status = "UploadFailed"
    try:
        write(cp, FILE)
        for attempt in range(job["attempts"]):
            if attempt:
                await after_ms(cp, job["interval"] * 1000)
            await _tell(cp, "Uploading")
            try:
                await upload.upload(job["location"], FILE, job["name"])
                log.info("ocpp: diagnostics uploaded as %s" % job["name"])
                status = "Uploaded"
                break
            except (upload.UploadError, OSError) as e:
                why = str(e) if isinstance(e, upload.UploadError) else repr(e)
                log.warn("ocpp: diagnostics upload attempt %d of %d: %s" % (attempt + 1, job["attempts"], why))
    finally:
        try:
            os.remove(FILE)
        except OSError:
            pass
    cp.jobs.pop("diagnostics", None)  # over: the next GetDiagnostics may start
    try:
        await _tell(cp, status)
    finally:
        if cp.jobs.get(ACTION) == status:  # not the next one's
            cp.jobs.pop(ACTION)  # Idle
        if cp.jobs.get("diagnostics") is None:
            unload("app.upload", "ocpp.diagnostics")


def _copy(name, out):
    """The file ``name`` (if there is one) onto ``out``, a chunk at a time."""
    buf = bytearray(upload.CHUNK)
    try:
        f = open(name, "rb")
    except OSError:
        return
    with f:
        while True:
            n = f.readinto(buf)
            if not n:
                return
            out.write(bytes(buf[:n]).decode("utf-8", "ignore"))


def write(cp, path):
    """The diagnostics file at ``path``, written a line at a time."""
    from app import config
    from version import VERSION

    charger = cp.charger
    with open(path, "w") as f:
        f.write("# open-evse diagnostics\n")
        f.write("box=%s\nversion=%s\ntime=%s\nuptime_ms=%d\nheap_free=%d\n" % (
            charger.config["OcppBoxId"], VERSION, cp._now() or "unknown", cp._uptime(), gc.mem_free()
            if hasattr(gc, "mem_free") else 0))
        f.write("\n# warnings and errors logged (app.log: the last 4 to 8 KB, across restarts; each line's\n"
                "# time is its uptime in ms at the start it was logged in)\n")
        for name in (log.FILE + ".1", log.FILE):
            _copy(name, f)
        f.write("\n# settings (no secrets: only whether each is set)\n")
        for key, value in config.public(charger.manager.settings()):
            f.write("%s=%s\n" % (key, json.dumps(value)))
        j = cp.journal
        f.write("\n# ocpp journal\nwaiting=%d\nlive_bytes=%d\nfile_bytes=%d\nlast_seq=%d\nopen_transaction=%s\n"
                % (len(j), j.live_bytes(), j.file_bytes(), j.last_seq(), cp.tx_ref))
        f.write("\n# ocpp configuration\n")
        for item in cp.config.get(None)[0]:
            f.write("%s=%s\n" % (item["key"], item.get("value", "")))
