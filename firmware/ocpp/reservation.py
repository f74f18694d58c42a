"""Reservation (OCPP 1.6 sections 5.13 ReserveNow and 5.3 CancelReservation):
the central system holds the connector for one id tag until a time.

    reservation.reserve_now(cp, {"connectorId": 1, "expiryDate": "...Z",
                                 "idTag": "04A2B3C4", "reservationId": 7})
    # -> {"status": "Accepted"}: connector Reserved until expiryDate

The charger interface keeps the reservation (EvseManager.reserve: nothing
starts for anyone else meanwhile, nor by itself in free mode; it ends at its
time on the charger's clock, RESERVATION_END) and this module translates:
the expiryDate becomes a span from now on the central system's time as the
charger keeps it (ChargePoint._epoch), and the interface's refusals become
OCPP's statuses. What OCPP adds is kept on the ChargePoint:
``reserved_parent``, the reservation's parentIdTag (any id tag with that
parent may use it, TC_053), and ``reservation_used``, the id of the
reservation an authorization consumed, for its StartTransaction.

A card other than the reserved one is refused at once, without an
Authorize (TC_046_1), unless the reservation has a parentIdTag: then its
parent is looked up (the local list, the authorization cache, else
Authorize) and it may charge if that is the reservation's parent.

Imported by the first ReserveNow or CancelReservation, and when a card is
shown while a reservation holds (heap).
"""

from app import log
from charger.limits import MAX_TIMEOUT_MS
from ocpp import timefmt

CONNECTOR = 1


def reserve_now(cp, p):
    """ReserveNow.conf for request ``p``."""
    m = cp.m
    connector = p.get("connectorId")
    if connector == 0 and not cp.config.value("ReserveConnectorZeroSupported"):
        return _no("connector 0 (the whole charge point) cannot be reserved: ReserveConnectorZeroSupported is false")
    if isinstance(connector, bool) or connector not in (0, CONNECTOR):
        return _no("no connector %r" % (connector,))
    until = p.get("expiryDate")
    until = timefmt.parse(until) if isinstance(until, str) else None
    now = cp._epoch()
    if until is None or now is None:
        return _no("expiryDate missing, unreadable, or the time not known yet")
    left_ms = (until - now) * 1000
    if not 0 < left_ms <= MAX_TIMEOUT_MS:
        return _no("expiryDate must be in the future, at most %d s ahead" % (MAX_TIMEOUT_MS // 1000))
    if m.fault:
        return {"status": "Faulted"}
    if not m.enabled:
        return {"status": "Unavailable"}
    rid = p.get("reservationId")
    held = m.reservation
    if held is not None and held[0] != rid:
        return {"status": "Occupied"}  # reserved for someone else: Reserved counts as occupied
    parent = p.get("parentIdTag")
    done = m.reserve(rid, p.get("idTag"), int(left_ms))
    if done is True:
        cp.reserved_parent = parent if isinstance(parent, str) and parent else None
        return {"status": "Accepted"}
    if done in ("occupied", "already reserved"):
        return {"status": "Occupied"}
    if done == "the charger is disabled":
        return {"status": "Unavailable"}
    return _no(done)


def cancel(cp, p):
    """CancelReservation.conf: Accepted if it held, else Rejected."""
    done = cp.m.cancel_reservation(p.get("reservationId"))
    return {"status": "Accepted" if done is True else "Rejected"}


def _no(why):
    log.info("ocpp: ReserveNow rejected: %s" % why)
    return {"status": "Rejected"}


async def other_tag(cp, id_tag):
    """A card shown while the connector is reserved for another id tag:
    refused, unless the reservation names a parentIdTag and this tag has
    it (looked up in the local list, the authorization cache, or asked for
    with Authorize), in which case it uses the reservation. True if it was
    authorized."""
    held = cp.m.reservation
    parent = cp.reserved_parent
    if held is None or parent is None:
        log.info("ocpp: id tag %s not authorized: reserved for another id tag" % id_tag)
        return False
    status, its_parent = await cp.tag_info(id_tag)
    if status != "Accepted" or its_parent != parent:
        log.info("ocpp: id tag %s not authorized: %s, parent %s (reserved for %s)" % (id_tag, status, its_parent,
                                                                                     parent))
        return False
    # The reservation's own tag would consume it in authorize: another one
    # ends it here, and then authorizes as any card would.
    cp.m.cancel_reservation(held[0])
    if cp.m.authorize(id_tag) is not True:
        return False
    cp.reservation_used = held[0]
    return True
