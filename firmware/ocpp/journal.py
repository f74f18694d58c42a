"""The transaction journal: OCPP messages that must reach the central system,
kept on flash until it has confirmed them.

A StopTransaction lost in a power cut is energy that is never billed. So the
charge point appends every StartTransaction, StopTransaction and MeterValues
here *before* it acts on it (closes the contactor, reports the session
over), sends them oldest first, and confirms each one when the central
system has answered it. After a reconnect or a restart the unconfirmed ones
are still here, in order.

On flash the journal is one append-only file of records::

    length (2 bytes, little endian) | JSON body (length bytes) | CRC-32 of both (4 bytes)

(the JSON with OCPP's common words, "MeterValues", "Energy.Active.Import.Register",
each stored as one control byte: see _WORDS).

The bodies are small JSON lists, one letter saying what happened:

    ["A", seq, action, payload]    a message was journalled
    ["C", seq]                     it was confirmed (or dropped to make room)
    ["C", seq, tx_id]              a StartTransaction (local ref ``seq``) was
                                   accepted with transactionId ``tx_id``
    ["N", seq, attempts]           it has been sent ``attempts`` times
    ["T", local_ref, tx_id]        the central system's transactionId for a local ref
    ["S", seq]                     the last seq handed out (written by compaction)

Replaying the records in order rebuilds the state. A power cut in the middle
of an append leaves a record that is cut short or fails its CRC at the end
of the file: replay stops there, so it loses at most the record being
written and never an older one, and the torn tail is removed (by a
compaction) before anything else is appended after it.

Confirmed records are garbage. When there is as much garbage as the bound,
*compaction* writes what is still live to ``path + ".tmp"``, flushes it and
renames it over ``path``: rename is atomic on LittleFS and POSIX, so a power
cut leaves the old file or the new one, and a ``.tmp`` left behind is
deleted on the next start, the rename never having happened.

Bounded: the live records take at most ``max_bytes``. To make room the oldest
MeterValues go first (counted in ``dropped``); StartTransaction and
StopTransaction are never dropped. A StartTransaction is refused
(``JournalFull``) unless there is room for it and for its Stop too, so a
Stop always fits. On flash the file never exceeds about twice ``max_bytes``,
plus the ``.tmp`` (at most ``max_bytes``) while compacting.

RAM: only an index lives in RAM, four small ints per live record (seq, file
offset, size, kind and attempts); payloads are read back from flash when they
are sent, one at a time.
"""

import json
import os
from binascii import crc32

START = "StartTransaction"
STOP = "StopTransaction"
METER = "MeterValues"

_SEQ_WRAP = 1 << 29  # seq stays a small int on a 32-bit port (2^30)
_STOP_ROOM = 1024  # what a Start keeps free for its Stop (transactionData included)
_MAX_TX_IDS = 16  # local ref -> transactionId pairs kept, newest last
_MAX_BODY = 0xFFFF  # the 2-byte length

# Index layout: a flat list, _STRIDE ints per live record.
_STRIDE = 4
_SEQ, _OFF, _SIZE, _KIND = 0, 1, 2, 3
# _KIND: bit 0 = a MeterValues (may be dropped), the rest = attempts << 1.


class JournalFull(Exception):
    """A StartTransaction that would not leave room for its Stop: do not start."""


def _sync(f):
    f.flush()
    try:
        os.fsync(f.fileno())  # CPython; MicroPython's flush() syncs LittleFS
    except (AttributeError, OSError):
        pass


def _dir_sync():
    try:
        os.sync()  # MicroPython ports with a block device cache
    except (AttributeError, OSError):
        pass


# The words OCPP transaction messages are made of, each stored as one byte
# (1 to 31): JSON text never holds a raw control character (json.dumps
# escapes them), so the substitution is undone exactly. A MeterValues of
# five measurands shrinks from some 600 bytes to some 250: more of them fit
# the bound, and fewer bytes are written to flash.
_WORDS = (
    '"StartTransaction"', '"StopTransaction"', '"MeterValues"',
    '"sampledValue":[', '"meterValue":[', '"transactionData":[', '"timestamp":"',
    '"connectorId":', '"transactionId":', '"meterStart":', '"meterStop":', '"idTag":"', '"reason":"',
    '"reservationId":', '"value":"', '"measurand":"', '"context":"', '"unit":"', '"phase":"',
    "Energy.Active.Import.Register", "Energy.Active.Import.Interval", "Power.Active.Import",
    "Current.Import", "Current.Offered", "Voltage", "Sample.Periodic", "Sample.Clock",
    "Transaction.Begin", "Transaction.End",
)


def _pack(text):
    for i in range(len(_WORDS)):
        if _WORDS[i] in text:
            text = text.replace(_WORDS[i], chr(i + 1))
    return text


def _unpack(text):
    for i in range(len(_WORDS) - 1, -1, -1):
        c = chr(i + 1)
        if c in text:
            text = text.replace(c, _WORDS[i])
    return text


def _check_json(value, depth=0):
    """Raise ValueError unless ``value`` is plain JSON. MicroPython's
    json.dumps writes a set or an object as no JSON at all, and such a record
    would stop the replay there: it must never reach the flash."""
    if depth > 10:
        raise ValueError("journal record nested too deep")
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise ValueError("journal record: key %r is not a string" % (k,))
            _check_json(value[k], depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_json(v, depth + 1)
    elif not (value is None or isinstance(value, (str, int, float))):  # bool is an int
        raise ValueError("journal record: %s is not a JSON value" % type(value).__name__)


def _check_tx_id(transaction_id):
    if not isinstance(transaction_id, int) or isinstance(transaction_id, bool):
        raise ValueError("journal: transaction_id must be an int")


def encode(body):
    """One record, as bytes: length, JSON of ``body`` (packed), CRC-32."""
    _check_json(body)
    data = _pack(json.dumps(body, separators=(",", ":"))).encode()
    n = len(data)
    if n > _MAX_BODY:
        raise ValueError("journal record of %d bytes: at most %d" % (n, _MAX_BODY))
    head = bytes((n & 255, n >> 8))
    crc = crc32(data, crc32(head)) & 0xFFFFFFFF
    return head + data + crc.to_bytes(4, "little")


def _read_record(f):
    """(body, size) of the next record of ``f``, or None at the end or at a
    torn or corrupt record."""
    head = f.read(2)
    if len(head) < 2:
        return None
    n = head[0] | head[1] << 8
    data = f.read(n)
    tail = f.read(4)
    if len(data) < n or len(tail) < 4:
        return None
    if crc32(data, crc32(head)) & 0xFFFFFFFF != int.from_bytes(tail, "little"):
        return None
    try:
        body = json.loads(_unpack(data.decode()))
    except (ValueError, UnicodeError):
        return None
    if not isinstance(body, list) or not body:
        return None
    return body, n + 6


class Journal:
    """The unconfirmed transaction messages in ``path``, oldest first.

    ``append(action, payload)`` -> seq, on flash when it returns;
    ``first()`` -> (seq, action, payload) of the oldest, or None;
    ``confirm(seq)`` when the central system has answered it.
    """

    def __init__(self, path, max_bytes=16384):
        if max_bytes < 2 * _STOP_ROOM:
            raise ValueError("journal max_bytes must be at least %d" % (2 * _STOP_ROOM))
        self.path = path
        self.max_bytes = max_bytes
        self.bytes_written = 0  # since start: appends, confirms and compactions
        self.dropped = 0  # MeterValues dropped to make room, since start
        self._index = []
        self._live_bytes = 0
        self._file_bytes = 0
        self._seq = 0
        self._tx_ids = []  # [local_ref, tx_id, local_ref, tx_id, ...], oldest first
        self._torn = False  # a write failed: the file may end in a torn record
        self._open = open  # the tests put a flash that fails here
        self._load()

    # -- reading back ---------------------------------------------------

    def _load(self):
        try:
            os.remove(self.path + ".tmp")  # a compaction cut short: the rename never happened
        except OSError:
            pass
        try:
            f = open(self.path, "rb")
        except OSError:
            return  # a fresh journal
        offset = 0
        with f:
            while True:
                rec = _read_record(f)
                if rec is None:
                    break
                body, size = rec
                self._replay(body, offset, size)
                offset += size
            f.seek(0, 2)
            end = f.tell()
        self._file_bytes = offset
        if end != offset:
            # A torn tail (power cut mid-append): rewrite without it before
            # anything is appended after it (or before the next write, if
            # the flash is too full to do it now).
            try:
                self._compact()
            except OSError:
                self._torn = True

    def _replay(self, body, offset, size):
        kind = body[0]
        if kind == "A":
            seq = body[1]
            self._index += (seq, offset, size, 1 if body[2] == METER else 0)
            self._live_bytes += size
            self._seq = seq
        elif kind == "C":
            self._forget(body[1])
            if len(body) > 2:
                self._remember(body[1], body[2])
        elif kind == "N":
            i = self._find(body[1])
            if i >= 0:
                self._index[i + _KIND] = (self._index[i + _KIND] & 1) | body[2] << 1
        elif kind == "T":
            self._remember(body[1], body[2])
        elif kind == "S":
            self._seq = body[1]

    # -- the index ------------------------------------------------------

    def _find(self, seq):
        index = self._index
        for i in range(0, len(index), _STRIDE):
            if index[i] == seq:
                return i
        return -1

    def _forget(self, seq):
        i = self._find(seq)
        if i < 0:
            return False
        self._live_bytes -= self._index[i + _SIZE]
        del self._index[i:i + _STRIDE]
        return True

    def _remember(self, local_ref, tx_id):
        ids = self._tx_ids
        for i in range(0, len(ids), 2):
            if ids[i] == local_ref:
                del ids[i:i + 2]
                break
        ids += (local_ref, tx_id)
        if len(ids) > 2 * _MAX_TX_IDS:
            del ids[0:2]

    def __len__(self):
        return len(self._index) // _STRIDE

    def live_bytes(self):
        """What the unconfirmed records take on flash (at most max_bytes,
        but for the one Stop that a Start keeps room for)."""
        return self._live_bytes

    def file_bytes(self):
        """The size of the file on flash (live records and garbage)."""
        return self._file_bytes

    def last_seq(self):
        """The seq the latest append got (0 for a fresh journal)."""
        return self._seq

    def records(self):
        """Every unconfirmed record, oldest first, as (seq, action, payload),
        read back from flash one at a time."""
        with open(self.path, "rb") as f:
            for i in range(0, len(self._index), _STRIDE):
                f.seek(self._index[i + _OFF])
                body = _read_record(f)[0]
                yield body[1], body[2], body[3]

    # -- writing --------------------------------------------------------

    def _write(self, record):
        """Append ``record`` to the file, on flash when this returns.

        If the write fails (flash full, a file system error), part of the
        record may be on flash: the next write compacts first, so nothing is
        ever appended behind a torn record (replay would stop there)."""
        if self._torn:
            self._compact()
            self._torn = False
        self._torn = True
        with self._open(self.path, "ab") as f:
            f.write(record)
            _sync(f)
        _dir_sync()
        self._torn = False
        offset = self._file_bytes
        self._file_bytes += len(record)
        self.bytes_written += len(record)
        return offset

    def append(self, action, payload):
        """Journal ``action`` with ``payload`` (a JSON-able dict); its seq.

        The record is on flash when this returns: only then may the charger
        act on it. A MeterValues may be dropped later to make room; when there
        is no room and nothing older to drop, this one is not journalled and
        the answer is None. A StartTransaction without room for itself and its
        Stop raises JournalFull (do not start the transaction); a
        StopTransaction is always journalled. Bad input raises ValueError and
        changes nothing.
        """
        if not isinstance(action, str) or not action or not isinstance(payload, dict):
            raise ValueError("journal: append(action: str, payload: dict)")
        seq = (self._seq + 1) % _SEQ_WRAP or 1
        record = encode(["A", seq, action, payload])
        size = len(record)
        meter = action == METER
        need = size + (_STOP_ROOM if action == START else 0)
        if action != STOP:
            room = self._room_after_drops(need)
            if room < need:
                if meter:
                    self.dropped += 1
                    return None
                raise JournalFull("journal full: %d of %d bytes unconfirmed" % (self._live_bytes, self.max_bytes))
        self._drop_for(need)  # a Stop too makes what room it can, then goes in anyway
        offset = self._write(record)
        self._seq = seq
        self._index += (seq, offset, size, 1 if meter else 0)
        self._live_bytes += size
        self._maybe_compact()
        return seq

    def _room_after_drops(self, need):
        """The room there would be, once as many old MeterValues as needed are dropped."""
        room = self.max_bytes - self._live_bytes
        index = self._index
        i = 0
        while room < need and i < len(index):
            if index[i + _KIND] & 1:
                room += index[i + _SIZE]
            i += _STRIDE
        return room

    def _drop_for(self, need):
        index = self._index
        i = 0
        while self.max_bytes - self._live_bytes < need and i < len(index):
            if index[i + _KIND] & 1:
                seq = index[i]
                self._write(encode(["C", seq]))
                self._forget(seq)
                self.dropped += 1
            else:
                i += _STRIDE

    def first(self):
        """(seq, action, payload) of the oldest unconfirmed record, or None."""
        if not self._index:
            return None
        seq = self._index[_SEQ]
        with open(self.path, "rb") as f:
            f.seek(self._index[_OFF])
            rec = _read_record(f)
        if rec is None or rec[0][1] != seq:
            raise OSError("journal %s changed under us at seq %d" % (self.path, seq))
        body = rec[0]
        return seq, body[2], body[3]

    def confirm(self, seq, transaction_id=None):
        """The central system answered ``seq``: it is no longer needed. False
        if ``seq`` is not in the journal (already confirmed or dropped).

        ``transaction_id``: ``seq`` is a StartTransaction, accepted with that
        id; ``seq`` becomes the local ref that ``transaction_id(seq)`` maps to
        it. Confirmation and id are one record: were they two, a power cut
        between them would leave the Start unconfirmed with its id known, and
        a second StartTransaction would open a second transaction."""
        if transaction_id is not None:
            _check_tx_id(transaction_id)
        if self._find(seq) < 0:
            return False
        if transaction_id is None:
            self._write(encode(["C", seq]))
        else:
            self._write(encode(["C", seq, transaction_id]))
            self._remember(seq, transaction_id)
        self._forget(seq)
        self._maybe_compact()
        return True

    def attempts(self, seq):
        """How many times ``seq`` has been sent (0 if unknown)."""
        i = self._find(seq)
        return self._index[i + _KIND] >> 1 if i >= 0 else 0

    def attempted(self, seq):
        """Count one more failed sending of ``seq`` (a CALLERROR, no answer
        in time), on flash so that TransactionMessageAttempts holds across
        restarts; the new count. Call it for failures, not before every
        send: a message answered at the first try then writes nothing more
        than its record and its confirmation (flash_bytes_per_hour)."""
        i = self._find(seq)
        if i < 0:
            return 0
        n = (self._index[i + _KIND] >> 1) + 1
        self._write(encode(["N", seq, n]))
        self._index[i + _KIND] = (self._index[i + _KIND] & 1) | n << 1
        self._maybe_compact()
        return n

    def set_transaction_id(self, local_ref, transaction_id):
        """The central system accepted the StartTransaction of ``local_ref``
        with ``transaction_id``: later messages of that transaction use it."""
        _check_tx_id(transaction_id)
        if not isinstance(local_ref, (int, str)) or isinstance(local_ref, bool):
            raise ValueError("journal: local_ref must be an int or a str")
        self._write(encode(["T", local_ref, transaction_id]))
        self._remember(local_ref, transaction_id)
        self._maybe_compact()

    def transaction_id(self, local_ref):
        """The transactionId the central system gave ``local_ref``, or None
        (not accepted yet). The newest 16 are kept."""
        ids = self._tx_ids
        for i in range(0, len(ids), 2):
            if ids[i] == local_ref:
                return ids[i + 1]
        return None

    # -- compaction -----------------------------------------------------

    def _maybe_compact(self):
        """Compact when there is as much garbage as the bound. Called after a
        record is safely down, so a compaction that fails (flash full) must
        not make that write look failed: it is tried again after the next."""
        if self._file_bytes - self._live_bytes >= self.max_bytes:
            try:
                self._compact()
            except OSError:
                try:
                    os.remove(self.path + ".tmp")
                except OSError:
                    pass

    def _compact(self):
        """Rewrite the file with only what is live, power-cut safe."""
        tmp = self.path + ".tmp"
        index = []
        offset = 0
        with self._open(tmp, "wb") as out:
            records = []
            ids = self._tx_ids
            for i in range(0, len(ids), 2):
                records.append(encode(["T", ids[i], ids[i + 1]]))
            for record in records:
                out.write(record)
                offset += len(record)
            if self._index:
                with open(self.path, "rb") as src:
                    for i in range(0, len(self._index), _STRIDE):
                        seq, off, size, kind = self._index[i:i + _STRIDE]
                        src.seek(off)
                        record = src.read(size)
                        if len(record) != size:
                            raise OSError("journal %s short at seq %d" % (self.path, seq))
                        out.write(record)
                        index += (seq, offset, size, kind)
                        offset += size
                        if kind >> 1:
                            record = encode(["N", seq, kind >> 1])
                            out.write(record)
                            offset += len(record)
            record = encode(["S", self._seq])  # last: replaying an "A" sets the seq too
            out.write(record)
            offset += len(record)
            _sync(out)
        os.rename(tmp, self.path)
        _dir_sync()
        self.bytes_written += offset
        self._file_bytes = offset
        self._index = index


def typical_meter_values():
    """What the charge point journals every MeterValueSampleInterval while
    charging: the five measurands of issue 13, values as long as a day's.
    (A function, not a constant: no heap for it unless asked.)"""
    def sample(value, measurand, unit, phase=None):
        v = {"value": value, "context": "Sample.Periodic", "measurand": measurand, "unit": unit}
        if phase:
            v["phase"] = phase
        return v

    return {
        "connectorId": 1,
        "transactionId": 123456789,
        "meterValue": [{
            "timestamp": "2026-12-04T12:34:56Z",
            "sampledValue": [
                sample("123456.7", "Energy.Active.Import.Register", "Wh"),
                sample("11040.0", "Power.Active.Import", "W"),
                sample("16.0", "Current.Import", "A", "L1"),
                sample("16", "Current.Offered", "A"),
                sample("230.0", "Voltage", "V", "L1"),
            ],
        }],
    }


def flash_bytes_per_hour(sample_interval_s, meter_values=None):
    """Bytes the journal writes to flash in an hour of charging with
    MeterValueSampleInterval ``sample_interval_s``, the central system
    answering everything: each MeterValues record and its confirmation.
    (The Start and Stop of the session, some 300 bytes, come on top once.)

    These are the journal's bytes, not the flash's: LittleFS never
    programs a block twice, so each synced append copies the file's
    unfinished last block to a fresh one (some 2 KB and an erase per
    record on an ESP32's 4 KiB blocks). tests/ocpp/store_figures.py
    measures that on LittleFS itself."""
    if sample_interval_s <= 0:
        return 0
    samples = 3600 // sample_interval_s
    record = len(encode(["A", _SEQ_WRAP - 1, METER, meter_values or typical_meter_values()]))
    confirm = len(encode(["C", _SEQ_WRAP - 1]))
    return samples * (record + confirm)
