"""Eaton Green Motion's vendor extensions that apply to this charger
(``../shared/seeds/eaton-green-motion-ocpp16j.pl.txt``, section 4.3 and 5).

Action keys (section 4.3, table 6): not in GetConfiguration's list of every
key, answered when named.

- ``FactoryReset``: ChangeConfiguration ``Active`` (erase at the next
  restart), ``Active-now`` (erase and restart now), ``Inactive`` (cancel an
  ``Active`` not yet carried out); GetConfiguration says ``Active`` while
  one is pending, else ``Inactive``. Erased: ``ERASED`` (every setting,
  WiFi, passwords and the OCPP endpoint included; the OCPP configuration
  keys; the authorization cache and the Local Authorization List; a pending
  UpdateFirmware). Kept: the OCPP journal (``ocpp.jnl``, ``ocpp.tx``,
  ``ocpp.dates``), so no transaction's Stop is lost (it is sent once the
  charger is connected to a central system again), the firmware slots, the
  OTA key, the board file. A running transaction is stopped and its Stop
  journalled (Reboot) before anything is erased, as Reset does.
- ``RSSI``: the WiFi signal in dBm, -999 (Eaton's "none") when not joined.
- ``NetworkStatus``: the WiFi interface as Eaton's example shows one:
  ``[{"link": "wlan0", "state": ..., "ipv4": ..., "mac": ..., "enabled": ...,
  "rx-level": <dBm>}]``.

DataTransfer (section 5, table 7): of Eaton's messages those an AC charger
sends, each when ``EnabledDataTransfer`` (a comma-separated list) names it,
sent by the charge point with vendorId ``VENDOR`` (Eaton's VendorId) and
``data`` as below:

- ``StopSource``: a transaction ended; data: its OCPP stop reason;
- ``PlugType``: a transaction started; data: ``Type2Socket`` or ``Type2Cable``
  (a tethered cable), as ChargerMode says;
- ``ChargeStopError``: a transaction ended on a fault; data: JSON
  ``{"evseState": <EvseState>, "errorCode": <ChargePointErrorCode>}``;
- ``RemoteShutOff``: the central system switched the charger off or on
  (ChangeAvailability applied); data: ``Inoperative`` or ``Operative``.

They are sent live, after the journal, a few at most queued (``QUEUE``);
any other DataTransfer from the central system is answered UnknownVendorId
(another vendor) or UnknownMessageId (Eaton's, none of which it sends to a
charge point that this one implements). Imported when first needed (heap).
"""

import json
import os

from app import log
from charger import events as E

VENDOR = "GreenMotion"
ACTION_KEYS = ("FactoryReset", "NetworkStatus", "RSSI")  # ChargePoint._handle names them too
FACTORY_FLAG = "factory.rst"  # an "Active" FactoryReset (ChargePoint.run looks for it)
QUEUE = 4
ERASED = ("config.json", "ocpp.json", "ocpp.auth", "ocpp.list", "ocpp.fw", FACTORY_FLAG)


# -- action keys --------------------------------------------------------------------


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def get(cp, key):
    """GetConfiguration's entry for action key ``key``."""
    wifi = cp.charger.wifi
    rssi = wifi.rssi() if wifi.mode == "sta" else 0
    if key == "FactoryReset":
        value = "Active" if _exists(FACTORY_FLAG) else "Inactive"
    elif key == "RSSI":
        value = str(rssi or -999)
    else:  # NetworkStatus
        state = {"sta": "connected" if rssi else "down", "ap": "ap"}.get(wifi.mode, "down")
        link = {"link": "wlan0", "state": state, "ipv4": wifi.ip(), "mac": wifi.mac(),
                "enabled": wifi.mode != "off", "rx-level": rssi or -999}
        value = json.dumps([link])
    return {"key": key, "readonly": key != "FactoryReset", "value": value}


def change(cp, key, value):
    """ChangeConfiguration of action key ``key``: its status."""
    if key != "FactoryReset":
        return "Rejected"  # RSSI and NetworkStatus are read-only
    if value == "Inactive":
        _remove(FACTORY_FLAG)
    elif value == "Active":
        with open(FACTORY_FLAG, "w") as f:
            f.write("Active")
    elif value == "Active-now":
        factory_reset(cp)
    else:
        return "Rejected"
    return "Accepted"


def factory_reset(cp):
    """Stop a running transaction (journalled), erase ``ERASED``, restart."""
    if cp._pending is not None:
        cp._resolve()
    if cp.tx_ref is not None:
        cp.m.stop_transaction(E.REASON_REBOOT)
        cp._stop("Reboot")
    for path in ERASED:
        _remove(path)
    log.warn("ocpp: factory reset: settings, OCPP keys, authorization cache and local list erased; restarting")
    cp.m.reset()


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


# -- DataTransfer --------------------------------------------------------------------


def on_event(cp, code, arg, enabled):
    """Queue the messages that session event ``code`` makes, of those
    ``enabled`` (EnabledDataTransfer's value) names."""
    enabled = enabled.split(",")
    if code == E.TRANSACTION_STARTED and "PlugType" in enabled:
        _queue(cp, "PlugType", "Type2Socket" if cp.m.settings()["ChargerMode"] == 1 else "Type2Cable")
    elif code == E.TRANSACTION_FINISHED:
        if "StopSource" in enabled:
            _queue(cp, "StopSource", E.REASONS[arg])
        fault = cp.m.fault
        if fault and "ChargeStopError" in enabled:
            from ocpp.chargepoint import _ERROR_CODES

            _queue(cp, "ChargeStopError", json.dumps({"evseState": fault,
                                                      "errorCode": _ERROR_CODES.get(fault, "OtherError")}))


def shut_off(cp, kind, enabled):
    """ChangeAvailability applied: RemoteShutOff."""
    if "RemoteShutOff" in enabled.split(","):
        _queue(cp, "RemoteShutOff", kind)


def _queue(cp, message, data):
    from ocpp.jobs import state

    queued = state(cp).setdefault("vendor", [])
    if len(queued) >= QUEUE:
        log.warn("ocpp: DataTransfer %s dropped: %d waiting" % (message, QUEUE))
        return
    queued.append((message, data))


async def send(cp):
    """Send what is queued, oldest first; a CALLERROR or a status other
    than Accepted is logged (the central system heard it: not repeated)."""
    from ocpp.chargepoint import CallRefused

    queued = cp.jobs["vendor"]
    while queued:
        message, data = queued[0]
        try:
            r = await cp.call("DataTransfer", {"vendorId": VENDOR, "messageId": message, "data": data})
            if r.get("status") != "Accepted":
                log.info("ocpp: DataTransfer %s: %s" % (message, r.get("status")))
        except CallRefused as e:
            log.warn("ocpp: DataTransfer %s refused: %s" % (message, e))
        queued.pop(0)


def incoming(p):
    """DataTransfer.conf to a central system's DataTransfer."""
    return {"status": "UnknownMessageId" if p.get("vendorId") == VENDOR else "UnknownVendorId"}
