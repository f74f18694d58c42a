"""The tests' central system (central_system.py) keeps its word: a CALL it
is told to be silent to gets no answer at all (neither a result nor a
CALLERROR), one it is told to refuse gets a CALLERROR, and a CALL that fails
the OCPP 1.6 schema is reported, so that the tests' fixture can fail on it.
Spoken to by a plain WebSocket client (``websockets``), as a charge point
would, on loopback."""

import json

from websockets.sync.client import connect

from test_core_e2e import Central

STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}


def _answer(ws):
    return json.loads(ws.recv(timeout=10))


def test_silence_is_silent_a_refusal_is_a_callerror_and_a_bad_call_is_reported():
    cs = Central({"silent": ["Heartbeat"], "callerror": ["Authorize"]})
    try:
        with connect("ws://127.0.0.1:%d/ocpp/CP9" % cs.port, subprotocols=["ocpp1.6"]) as ws:
            cs.next(lambda e: e.get("connected") == "CP9")
            # It handles one CALL after the other: the first answer that
            # comes is the second CALL's, so the first got none.
            ws.send(json.dumps([2, "1", "Heartbeat", {}]))
            ws.send(json.dumps([2, "2", "StatusNotification", STATUS]))
            assert _answer(ws) == [3, "2", {}]
            assert cs.got("Heartbeat") and cs.got("StatusNotification")

            ws.send(json.dumps([2, "3", "Authorize", {"idTag": "TAG1"}]))
            refused = _answer(ws)
            assert refused[:3] == [4, "3", "InternalError"], refused
            cs.got("Authorize")
            assert not [e for e in cs.seen if "invalid" in e]  # refused is not invalid

            ws.send(json.dumps([2, "4", "StatusNotification", dict(STATUS, status="Asleep")]))
            bad = _answer(ws)
            assert bad[:2] == [4, "4"], bad
            invalid = cs.next(lambda e: "invalid" in e)
            assert (invalid["invalid"], invalid["payload"]["status"]) == ("StatusNotification", "Asleep")
            assert "FormatViolation" in invalid["error"] or "TypeConstraint" in invalid["error"] or \
                "PropertyConstraint" in invalid["error"], invalid
    finally:
        cs.stop()
