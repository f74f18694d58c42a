"""Remote Trigger (OCPP 1.6 section 5.17): TriggerMessage asks the charge
point to send one of its own messages now, rather than when it would.

    cp._handle("TriggerMessage", {"requestedMessage": "StatusNotification"})
    # -> {"status": "Accepted"}; the StatusNotification follows the answer

``request`` answers the CALL and queues what was asked for; the link task
(ChargePoint._session) calls ``send`` once the answer is out and the
journal is empty, so the triggered message follows the TriggerMessage.conf
as OCPP 1.6 wants, and a triggered MeterValues of a transaction started
offline carries the transactionId its StartTransaction was given.

Imported by the first TriggerMessage only (heap): a charge point that is
never triggered pays nothing for it.
"""

from app import log
from ocpp import timefmt

CONNECTOR = 1  # the one connector; 0 is the charge point as a whole
MESSAGES = ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat",
            "MeterValues", "StatusNotification")
QUEUE = 6  # triggers waiting to be sent: one of each kind is enough


def request(cp, p):
    """TriggerMessage.conf for request ``p``: NotImplemented for a message
    this charge point does not send on request, Rejected for a connector it
    does not have (nothing is sent then), else Accepted and the message
    queued (asked twice before it went out: sent once)."""
    what = p.get("requestedMessage")
    connector = p.get("connectorId")
    if what not in MESSAGES:
        return {"status": "NotImplemented"}
    if connector is not None and (isinstance(connector, bool) or connector not in (0, CONNECTOR)):
        return {"status": "Rejected"}
    queued = cp.triggered
    if (what, connector) not in queued:
        if len(queued) >= QUEUE:
            return {"status": "Rejected"}
        queued.append((what, connector))
    return {"status": "Accepted"}


async def send(cp):
    """Send what was triggered, oldest first. A CALLERROR to one is logged
    (the central system asked, and then refused: nothing to repeat); no
    answer ends the link as any CALL's does, and what was triggered then
    is not sent again (the central system can ask again)."""
    from ocpp.chargepoint import CallRefused

    queued = cp.triggered
    while queued:
        what, connector = queued.pop(0)
        try:
            await _send(cp, what, connector)
        except CallRefused as e:
            log.warn("ocpp: triggered %s refused: %s" % (what, e))


def _connector_zero(cp):
    """The charge point's own status (connector 0): Available, Unavailable
    or Faulted, as OCPP 1.6 allows for it."""
    m = cp.m
    if m.fault:
        return "Faulted"
    return "Available" if m.enabled else "Unavailable"


async def _send(cp, what, connector):
    if what == "BootNotification":
        r = await cp.call(what, cp.boot_payload())
        cp._sync(r.get("currentTime"))
        if r.get("status") == "Accepted" and r.get("interval", 0) > 0:
            cp.config.stored["HeartbeatInterval"] = r["interval"]
    elif what == "Heartbeat":
        r = await cp.call(what, {})
        cp._sync(r.get("currentTime"))
    elif what in ("DiagnosticsStatusNotification", "FirmwareStatusNotification"):
        from ocpp.jobs import status  # the upload's or the update's last step, or Idle

        await cp.call(what, {"status": status(cp, what)})
    elif what == "MeterValues":
        wanted = cp.config.value("MeterValuesSampledData") or "Energy.Active.Import.Register"
        n = CONNECTOR if connector is None else connector
        payload = {"connectorId": n, "meterValue": [{"timestamp": cp._now() or timefmt.format(0),
                                                     "sampledValue": cp._values(wanted, "Trigger")}]}
        tx = cp.journal.transaction_id(cp.tx_ref) if n == CONNECTOR and cp.tx_ref is not None else None
        if tx is not None:
            payload["transactionId"] = tx
        await cp.call(what, payload)
    else:  # StatusNotification: of the connector asked, or of both
        from ocpp.chargepoint import _ERROR_CODES

        for n in ((0, CONNECTOR) if connector is None else (connector,)):
            status = _connector_zero(cp) if n == 0 else cp._connector_status()
            await cp.call(what, {"connectorId": n, "status": status,
                                 "errorCode": _ERROR_CODES.get(cp.m.fault, "NoError")})
            if n == CONNECTOR:
                cp.reported = status
