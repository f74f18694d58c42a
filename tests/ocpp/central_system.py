"""A real OCPP 1.6J central system for the tests: the `ocpp` package (every
message checked against the OCPP 1.6 JSON schemas, both ways) over
`websockets`, on loopback.

A CALL of the charge point that fails the schema (or names an action this
central system does not handle) is reported as ``{"invalid": action,
"payload": ..., "error": ...}`` before the package answers it with a
CALLERROR: the tests' fixture fails the test on one. An answer of the
charge point that fails the schema makes the result of the CALL it answers
``null``, with the error.

Run as a separate process (firmware/ocpp shadows the `ocpp` package inside
pytest, whose sys.path starts with firmware/):

    python central_system.py PORT BEHAVIOUR_JSON

It prints ``{"listening": port}`` when ready, then one JSON line per event:
``{"got": action, "payload": {...}, "id": charge point, "n": n}`` for each
CALL it received (the n-th), ``{"ping": id}`` for each WebSocket ping, and
``{"result": ..., "ref": r, "after": n}`` for the answer to a CALL it was
told to make (which came after the charge point's n-th CALL). Commands, one JSON object per line on stdin:
``{"call": "RemoteStartTransaction", "payload": {...}, "ref": n}`` sends a
CALL to the connected charge point (with ``"unchecked": true`` past the
schema, to send what a faulty central system might); ``{"behaviour": {...}}`` changes how it
answers; ``{"drop": true}`` closes the charge point's connection.

Behaviour keys: ``boot`` (list of statuses answered to successive
BootNotifications, the last one repeated), ``interval`` (s), ``authorize``
({idTag: status}, default Accepted), ``parents`` ({idTag: parentIdTag}), ``callerror`` (actions answered with a
CALLERROR), ``silent`` (actions never answered: no result, no CALLERROR), ``dedupe`` (a StartTransaction
seen before gets its transactionId again), ``known`` and ``next_tx`` (what
it remembers from before it went down), ``clock`` (the time it gives, epoch
seconds, instead of its own: a test moves it with the charger's virtual time).
"""

import asyncio
import json
import sys
from datetime import datetime, timezone

import websockets
from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

behaviour = {}
boots = 0
tx_ids = 0  # the last transactionId given
known = {}  # StartTransaction (connector, idTag, timestamp, meterStart) -> its transactionId
connected = {}  # "cp": the ChargePoint of the charger connected now
received = 0  # CALLs received from charge points so far: "n" of each "got"
answered_after = {}  # unique id of a CALL of ours: how many CALLs had come before its answer


def emit(**event):
    print(json.dumps(event), flush=True)


def now():
    if "clock" in behaviour:  # the test's clock (epoch s): it follows the charger's virtual time
        return datetime.fromtimestamp(behaviour["clock"], timezone.utc).isoformat().replace("+00:00", "Z")
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def snake(payload):
    """The ocpp package's dataclasses take snake_case names."""
    import re

    return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in payload.items()}


class CentralSystem(ChargePoint):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._silenced = set()  # unique ids of the CALLs being handled that get no answer

    async def route_message(self, raw_msg):
        # Which came first, a CALL of the charge point or its answer to one
        # of ours ("n" of a "got", "after" of a "result"): what the wire
        # carried, whatever order the handlers then run in.
        global received
        try:
            kind, uid = json.loads(raw_msg)[:2]
        except (ValueError, TypeError):
            kind = uid = None
        if kind == 2:
            received += 1
        elif kind in (3, 4):
            answered_after[uid] = received
        await super().route_message(raw_msg)

    def _gate(self, action, payload):
        emit(got=action, payload=payload, id=self.id, n=received)
        if action in behaviour.get("callerror", ()):
            from ocpp.exceptions import InternalError

            raise InternalError(description="told to fail " + action)

    def _id_tag_info(self, id_tag):
        info = {"status": behaviour.get("authorize", {}).get(id_tag, "Accepted")}
        parent = behaviour.get("parents", {}).get(id_tag)
        if parent:
            info["parent_id_tag"] = parent
        return info

    @on(Action.boot_notification)
    def on_boot(self, **kw):
        global boots
        self._gate("BootNotification", kw)
        statuses = behaviour.get("boot", ["Accepted"])
        status = statuses[min(boots, len(statuses) - 1)]
        boots += 1
        return call_result.BootNotification(current_time=now(), interval=behaviour.get("interval", 60),
                                            status=status)

    @on(Action.heartbeat)
    def on_heartbeat(self, **kw):
        self._gate("Heartbeat", kw)
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status(self, **kw):
        self._gate("StatusNotification", kw)
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag, **kw):
        self._gate("Authorize", dict(kw, id_tag=id_tag))
        return call_result.Authorize(id_tag_info=self._id_tag_info(id_tag))

    @on(Action.start_transaction)
    def on_start(self, id_tag, **kw):
        global tx_ids
        payload = dict(kw, id_tag=id_tag)
        key = json.dumps([kw.get("connector_id"), id_tag, kw.get("timestamp"), kw.get("meter_start")])
        if behaviour.get("dedupe") and key in known:
            tx = known[key]  # sent again after a lost answer: the same transaction
        else:
            tx_ids += 1
            tx = known[key] = tx_ids
        emit(got="StartTransaction", payload=payload, id=self.id, tx=tx, n=received)
        return call_result.StartTransaction(transaction_id=tx, id_tag_info=self._id_tag_info(id_tag))

    @on(Action.stop_transaction)
    def on_stop(self, **kw):
        self._gate("StopTransaction", kw)
        return call_result.StopTransaction()

    @on(Action.meter_values)
    def on_meter_values(self, **kw):
        self._gate("MeterValues", kw)
        return call_result.MeterValues()

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status(self, **kw):
        self._gate("DiagnosticsStatusNotification", kw)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status(self, **kw):
        self._gate("FirmwareStatusNotification", kw)
        return call_result.FirmwareStatusNotification()

    @on(Action.data_transfer)
    def on_data_transfer(self, **kw):
        self._gate("DataTransfer", kw)
        return call_result.DataTransfer(status="UnknownVendorId")

    async def _handle_call(self, msg):
        # Silence cannot be a handler's exception: the package answers
        # that with a CALLERROR. The CALL's id is noted, and _send drops
        # whatever answers it.
        if msg.action in behaviour.get("silent", ()):
            self._silenced.add(msg.unique_id)
        try:
            # The package checks the CALL against the schema before any
            # handler runs, and answers a failure with a CALLERROR that
            # nothing else would show: reported, for the fixture to fail on.
            await super()._handle_call(msg)
        except OCPPError as e:
            emit(invalid=msg.action, payload=msg.payload, error="%s: %s" % (type(e).__name__, e), id=self.id)
            raise
        finally:
            self._silenced.discard(msg.unique_id)

    async def _send(self, message):
        if json.loads(message)[1] in self._silenced:  # a result or a CALLERROR to a silenced CALL
            return
        await super()._send(message)


def _report_pings(ws, cp_id):
    """Emit {"ping": id} for every WebSocket ping the charge point sends
    (websockets answers them itself, below what the ocpp package sees)."""
    from websockets.frames import Opcode

    protocol = ws.protocol
    recv_frame = protocol.recv_frame

    def counted(frame):
        if frame.opcode is Opcode.PING:
            emit(ping=cp_id)
        recv_frame(frame)

    protocol.recv_frame = counted


async def serve(ws):
    if ws.subprotocol != "ocpp1.6":
        await ws.close()
        return
    cp = CentralSystem(ws.request.path.rsplit("/", 1)[-1], ws, response_timeout=10)
    _report_pings(ws, cp.id)
    connected["cp"] = cp
    emit(connected=cp.id, auth=ws.request.headers.get("Authorization"))
    try:
        await cp.start()
    except websockets.ConnectionClosed:
        pass
    finally:
        if connected.get("cp") is cp:
            del connected["cp"]
        emit(disconnected=cp.id)


async def command(line):
    global behaviour
    cmd = json.loads(line)
    if "behaviour" in cmd:
        behaviour = dict(behaviour, **cmd["behaviour"])
        emit(behaviour=behaviour)
    elif cmd.get("drop"):
        cp = connected.get("cp")
        if cp:
            await cp._connection.close()
    elif "call" in cmd:
        cp = connected.get("cp")
        if cp is None:
            emit(result=None, error="no charge point connected", ref=cmd.get("ref"))
            return
        request = getattr(call, cmd["call"])(**snake(cmd.get("payload", {})))
        uid = "cs-%s" % cmd.get("ref")
        try:
            result = await cp.call(request, suppress=False, unique_id=uid,
                                   skip_schema_validation=bool(cmd.get("unchecked")))
            emit(result=result.__dict__, ref=cmd.get("ref"), after=answered_after.pop(uid, None))
        except Exception as e:  # a CALLERROR, or a timeout
            emit(result=None, error="%s: %s" % (type(e).__name__, e), ref=cmd.get("ref"))


async def main():
    global behaviour
    port = int(sys.argv[1])
    behaviour = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    # What a central system that was down remembers (a real one keeps it in its database).
    global tx_ids
    tx_ids = behaviour.pop("next_tx", 0)
    known.update(behaviour.pop("known", {}))
    async with websockets.serve(serve, "127.0.0.1", port, subprotocols=["ocpp1.6"]):
        emit(listening=port)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = await reader.readline()
            if not line:
                return
            asyncio.ensure_future(command(line))


if __name__ == "__main__":
    asyncio.run(main())
