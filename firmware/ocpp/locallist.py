"""The Local Authorization List (OCPP 1.6 sections 3.5.1, 5.10 and 5.15):
id tags the central system gives the charger to decide on by itself.

    lst = LocalList("ocpp.list")
    lst.update(2, "Full", [{"idTag": "04A2B3C4", "idTagInfo": {"status": "Accepted"}}])  # "Accepted"
    lst.info("04A2B3C4", now_s)     # ("Accepted", None): (status, parentIdTag); None if not listed
    lst.reported_version()          # 2; 0 while the list is empty (GetLocalListVersion)

SendLocalList replaces the list (Full) or changes it (Differential: an
entry with an idTagInfo is added or replaced, one without is removed). A
differential update must carry a version above the list's; one that does
not is answered VersionMismatch and changes nothing, as are an update with
more than SendLocalListMaxLength entries, a tag twice, a Full entry without
its idTagInfo or a list that would outgrow LocalAuthListMaxLength (Failed).

On flash, not in RAM: the file is a header line ({"version", "count"}) and
one JSON line per tag ([idTag, status, expiry epoch s or 0, parentIdTag?]),
written whole by atomic replace (app.atomic.write_atomic, line by line from
a generator, never built in memory): a power cut leaves the old list or the
new one. A look-up reads it line by line, so the list costs the heap only
its version and length, whatever its size, and only while it is read.

Used (imported) only when the central system sends a list or asks for its
version, or when a card is shown while a list is on flash.
"""

import json

from app import log
from app.atomic import write_atomic
from ocpp import timefmt

MAX_LENGTH = 200  # LocalAuthListMaxLength: tags on flash (~50 bytes each)
SEND_MAX_LENGTH = 20  # SendLocalListMaxLength: tags in one SendLocalList (~3 KB of JSON at most)
MAX_TAG = 20  # IdToken: CiString20
_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")


class LocalList:
    def __init__(self, path="ocpp.list", max_length=MAX_LENGTH):
        self.path = path
        self.max_length = max_length
        self.version = 0
        self.count = 0
        try:
            with open(path) as f:
                head = json.loads(f.readline())
            self.version, self.count = int(head["version"]), int(head["count"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # none yet (or unreadable, which atomic replace never leaves): empty

    def reported_version(self):
        """GetLocalListVersion's listVersion: 0 while the list is empty."""
        return self.version if self.count else 0

    def _entries(self):
        """The entries on flash, one at a time: [idTag, status, expiry, parent?]."""
        if not self.count:
            return
        try:
            with open(self.path) as f:
                f.readline()
                for line in f:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(entry, list) and len(entry) >= 3:
                        yield entry
        except OSError:
            return

    def info(self, id_tag, now_s=None):
        """(status, parentIdTag or None) of ``id_tag`` on the list ("Expired"
        for an Accepted one past its expiryDate; ``now_s`` None: the time is
        not known, no expiry reached), or None if it is not listed."""
        prefix = "[" + json.dumps(id_tag) + ","
        if not self.count:
            return None
        try:
            with open(self.path) as f:
                f.readline()
                for line in f:
                    if line.startswith(prefix):
                        entry = json.loads(line)
                        status = entry[1]
                        if status == "Accepted" and entry[2] and now_s is not None and now_s >= entry[2]:
                            status = "Expired"
                        return status, (entry[3] if len(entry) > 3 else None)
        except (OSError, ValueError, IndexError):
            pass
        return None

    def update(self, version, kind, entries, send_max=SEND_MAX_LENGTH):
        """Apply a SendLocalList; its status ("Accepted", "Failed",
        "VersionMismatch"). Anything but Accepted changes nothing."""
        if isinstance(version, bool) or not isinstance(version, int) or kind not in ("Full", "Differential"):
            raise ValueError("listVersion must be a whole number and updateType Full or Differential")
        if entries is None:
            entries = []
        if not isinstance(entries, list):
            raise ValueError("localAuthorizationList must be a list")
        if kind == "Differential" and version <= self.reported_version():
            log.info("ocpp: local list %d not applied: version %d does not follow" % (version, self.version))
            return "VersionMismatch"
        if len(entries) > send_max:
            return _failed("%d entries, more than SendLocalListMaxLength %d" % (len(entries), send_max))
        changes = {}  # idTag: its line, or None to remove it
        for e in entries:
            why = _invalid(e, kind)
            if why:
                return _failed(why)
            tag = e["idTag"]
            if tag in changes:
                return _failed("%s twice" % tag)
            changes[tag] = _line(tag, e.get("idTagInfo"))
        if kind == "Full":
            count = len(changes)
            kept = ()
        else:
            count = self.count
            for entry in self._entries():
                if entry[0] in changes:
                    count -= 1
            count += len([line for line in changes.values() if line is not None])
            kept = self._entries()
        if count > self.max_length:
            return _failed("%d tags, more than LocalAuthListMaxLength %d" % (count, self.max_length))
        try:
            write_atomic(self.path, _pieces(version, count, kept, changes))
        except OSError as e:
            return _failed("flash: %s" % e)
        self.version, self.count = version, count
        return "Accepted"


def _pieces(version, count, kept, changes):
    """The new file, line by line: the entries kept, then the ones given."""
    yield json.dumps({"version": version, "count": count}) + "\n"
    for entry in kept:
        if entry[0] not in changes:
            yield json.dumps(entry) + "\n"
    for line in changes.values():
        if line is not None:
            yield line


def _line(tag, info):
    if info is None:
        return None
    expiry = info.get("expiryDate")
    entry = [tag, info["status"], timefmt.parse(expiry) if isinstance(expiry, str) else 0]
    parent = info.get("parentIdTag")
    if parent:
        entry.append(parent)
    return json.dumps(entry) + "\n"


def _invalid(e, kind):
    """Why the list entry ``e`` cannot be taken, or None."""
    if not isinstance(e, dict):
        return "an entry is not an object"
    tag = e.get("idTag")
    if not (isinstance(tag, str) and 0 < len(tag) <= MAX_TAG):
        return "idTag must be 1 to %d characters" % MAX_TAG
    info = e.get("idTagInfo")
    if info is None:
        return "%s: a Full list needs every idTagInfo" % tag if kind == "Full" else None
    if not isinstance(info, dict) or info.get("status") not in _STATUSES:
        return "%s: idTagInfo needs a status, one of %s" % (tag, ", ".join(_STATUSES))
    expiry = info.get("expiryDate")
    if expiry is not None and (not isinstance(expiry, str) or timefmt.parse(expiry) is None):
        return "%s: expiryDate unreadable" % tag
    parent = info.get("parentIdTag")
    if parent is not None and not (isinstance(parent, str) and len(parent) <= MAX_TAG):
        return "%s: parentIdTag must be at most %d characters" % (tag, MAX_TAG)
    return None


def _failed(why):
    log.info("ocpp: local list not applied: %s" % why)
    return "Failed"


def handle(cp, action, p):
    """SendLocalList.conf or GetLocalListVersion.conf (ChargePoint._handle).
    With LocalAuthListEnabled false: NotSupported, and version -1 (OCPP's
    "no local list")."""
    enabled = cp.config.value("LocalAuthListEnabled")
    if action == "GetLocalListVersion":
        return {"listVersion": cp.local_list().reported_version() if enabled else -1}
    if not enabled:
        return {"status": "NotSupported"}
    try:
        status = cp.local_list().update(p.get("listVersion"), p.get("updateType"), p.get("localAuthorizationList"),
                                        cp.config.value("SendLocalListMaxLength"))
    except ValueError as e:  # not a SendLocalList: FormationViolation
        from ocpp.chargepoint import CallError

        raise CallError(str(e))
    return {"status": status}
