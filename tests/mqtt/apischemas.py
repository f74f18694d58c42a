"""The schemas every payload the firmware publishes is checked against.

    josev_validate(payload)                 # by its envelope's name and type: schemas/josev/
    everest_validate("session_event", obj)  # the e2m message of that name in the AsyncAPI file

EVerest's AsyncAPI file (shared/peers/everest-api/) refers to schemas in
sibling files; those that are not shipped with it (powermeter_API.yaml,
auth_consumer_API.yaml, ...) cannot be checked here and are taken as any
object (``UNRESOLVED`` lists the references that were)."""

import json
import os

import jsonschema
import yaml

_HERE = os.path.dirname(os.path.abspath(__file__))
JOSEV_DIR = os.path.join(_HERE, "schemas", "josev")
# Where CI lays it out, beside the repository (as tests/micropython32.py's port).
EVEREST_DIR = os.path.normpath(os.path.join(_HERE, "..", "..", "..", "shared", "peers", "everest-api"))

_JOSEV_FILES = {
    ("cs_status_and_limits", "response"): "CsStatusAndLimitsResponse.json",
    ("cs_status_and_limits", "update"): "CsStatusAndLimitsUpdate.json",
    ("cs_parameters", "response"): "CsParametersResponse.json",
    ("cp_status", "update"): "CpStatusUpdate.json",
    ("cs_contactor_status", "response"): "CsContactorStatusResponse.json",
    ("cs_contactor_status", "update"): "CsContactorStatusUpdate.json",
    ("stop_charging", "response"): "StopChargingResponse.json",
}


def josev_validate(msg):
    """Check a message we published on cs/josev (decoded JSON)."""
    name = _JOSEV_FILES.get((msg.get("name"), msg.get("type")))
    assert name, "no schema for %s %s" % (msg.get("name"), msg.get("type"))
    with open(os.path.join(JOSEV_DIR, name)) as f:
        jsonschema.validate(msg, json.load(f), format_checker=jsonschema.FormatChecker())


_docs = {}
UNRESOLVED = set()


def _doc(name):
    if name not in _docs:
        path = os.path.join(EVEREST_DIR, name)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            _docs[name] = yaml.safe_load(f)
    return _docs[name]


def _resolve(node, file):
    """``node`` with every $ref replaced by what it points to (recursively)."""
    if isinstance(node, list):
        return [_resolve(n, file) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        target_file, _, pointer = ref.partition("#")
        target_file = target_file or file
        doc = _doc(target_file)
        if doc is None:
            UNRESOLVED.add(ref)
            return {k: _resolve(v, file) for k, v in node.items() if k != "$ref"}  # its type is still checked
        for part in pointer.strip("/").split("/"):
            doc = doc[part]
        merged = dict(_resolve(doc, target_file))
        merged.update({k: _resolve(v, file) for k, v in node.items() if k not in ("$ref", "description")})
        return merged
    return {k: _resolve(v, file) for k, v in node.items()}


def everest_payload_schema(message, api="evse_manager_consumer_API.yaml"):
    """The resolved payload schema of ``components/messages/<message>``."""
    doc = _doc(api)
    assert doc is not None, "EVerest's %s is not in %s" % (api, EVEREST_DIR)
    return _resolve(doc["components"]["messages"][message]["payload"], api)


def everest_channels(api="evse_manager_consumer_API.yaml"):
    """{address: message name} of the API's channels."""
    return {ch["address"]: next(iter(ch["messages"])) for ch in _doc(api)["channels"].values() if ch.get("address")}


def everest_validate(address, payload, api="evse_manager_consumer_API.yaml"):
    """Check what we published at ``e2m/...`` (its address) against its message."""
    message = everest_channels(api)[address]
    jsonschema.validate(payload, everest_payload_schema(message, api), format_checker=jsonschema.FormatChecker())


def everest_reply_validate(request_message, payload, api="evse_manager_consumer_API.yaml"):
    """Check a reply: the message of the request's reply channel."""
    reply = request_message.replace("send_request_", "receive_reply_")
    jsonschema.validate(payload, everest_payload_schema(reply, api), format_checker=jsonschema.FormatChecker())
