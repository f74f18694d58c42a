"""The authorization cache (OCPP 1.6 section 3.5.1): what the central
system last said about each id tag, so that a known card can charge while
the central system is unreachable (LocalAuthorizeOffline) or without
waiting for it (LocalPreAuthorize).

    cache = AuthCache("ocpp.auth")
    cache.put("04A2B3C4", {"status": "Accepted", "expiryDate": "2027-01-01T00:00:00Z"})
    cache.status("04A2B3C4", now_s)   # "Accepted"; "Expired" once past expiryDate; None if unknown
    cache.parent("04A2B3C4")          # its parentIdTag, or None
    cache.clear()                     # ClearCache

Every idTagInfo the central system sends (Authorize, StartTransaction,
StopTransaction) updates it. At most ``size`` tags are kept: the one
updated longest ago goes first. On flash as one JSON file written by
atomic replace (app.atomic) on every change: a power cut leaves the old
cache or the new one. Times are epoch seconds; ``now_s`` None (the charger
does not know the time yet) takes an expiry date as not reached.
"""

import json

from app.atomic import read_json, write_atomic
from ocpp import timefmt

SIZE = 32  # id tags kept (~40 bytes each on flash, ~100 bytes of heap)
_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")


class AuthCache:
    def __init__(self, path="ocpp.auth", size=SIZE):
        self.path = path
        self.size = size
        # {id tag: [status, expiry epoch s or 0 (none), order(, parentIdTag)]}; order grows with each update.
        self._tags = {}
        self._order = 0
        kept = read_json(path)
        for tag, entry in kept.items():
            if isinstance(tag, str) and isinstance(entry, list) and len(entry) in (3, 4) and entry[0] in _STATUSES:
                self._tags[tag] = entry
                if entry[2] > self._order:
                    self._order = entry[2]

    def __len__(self):
        return len(self._tags)

    def status(self, id_tag, now_s=None):
        """The cached status of ``id_tag`` ("Expired" if an Accepted one is
        past its expiryDate), or None if the central system never said."""
        entry = self._tags.get(id_tag)
        if entry is None:
            return None
        status, expiry = entry[0], entry[1]
        if status == "Accepted" and expiry and now_s is not None and now_s >= expiry:
            return "Expired"
        return status

    def parent(self, id_tag):
        """The parentIdTag the central system gave ``id_tag``, or None."""
        entry = self._tags.get(id_tag)
        return entry[3] if entry is not None and len(entry) > 3 else None

    def put(self, id_tag, info):
        """Remember an idTagInfo ({"status", "expiryDate"?}) for ``id_tag``.
        Anything else (a malformed answer) is ignored; False then."""
        if not isinstance(id_tag, str) or not isinstance(info, dict) or info.get("status") not in _STATUSES:
            return False
        expiry = info.get("expiryDate")
        expiry = timefmt.parse(expiry) if isinstance(expiry, str) else None
        parent = info.get("parentIdTag")
        parent = parent if isinstance(parent, str) and parent else None
        entry = self._tags.get(id_tag)
        if entry is not None and entry[0] == info["status"] and entry[1] == (expiry or 0) and \
                (entry[3] if len(entry) > 3 else None) == parent:
            return True  # nothing new: no write to flash
        self._order += 1
        entry = [info["status"], expiry or 0, self._order]
        if parent is not None:
            entry.append(parent)
        self._tags[id_tag] = entry
        while len(self._tags) > self.size:
            oldest = min(self._tags, key=lambda t: self._tags[t][2])
            del self._tags[oldest]
        self._save()
        return True

    def clear(self):
        self._tags = {}
        self._save()

    def _save(self):
        write_atomic(self.path, json.dumps(self._tags))
