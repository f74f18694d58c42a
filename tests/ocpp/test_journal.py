"""The transaction journal (firmware/ocpp/journal.py): order, confirmation,
restart, bounds, and power cuts at every byte of an append and of a
compaction. Runs under CPython (pytest) and, through
test_ocpp_micropython.py, under the 64- and 32-bit MicroPython unix ports."""

from flashdir import fresh, read, write, exists, remove
from ocpp.journal import Journal, JournalFull, START, STOP, METER, encode, flash_bytes_per_hour, typical_meter_values


def _meter(n, pad=0):
    return {"connectorId": 1, "n": n, "meterValue": [{"timestamp": "2026-12-04T10:00:00Z", "x": "m" * pad}]}


def _state(j):
    """Everything a restart must bring back."""
    recs = list(j.records())
    return (recs, [j.attempts(r[0]) for r in recs], [j.transaction_id(ref) for ref in (1, 2, 3, "r4")],
            len(j), j.last_seq())


def _journal(max_bytes=4096):
    return Journal(fresh() + "/ocpp.jnl", max_bytes=max_bytes)


def test_a_fresh_journal_is_empty():
    j = _journal()
    assert len(j) == 0 and j.first() is None and j.last_seq() == 0
    assert j.transaction_id(1) is None


def test_records_come_back_in_order_and_go_when_confirmed():
    j = _journal()
    a = j.append(START, {"connectorId": 1, "idTag": "abc", "meterStart": 0})
    b = j.append(METER, _meter(1))
    c = j.append(STOP, {"transactionId": 5, "meterStop": 10})
    assert a < b < c and len(j) == 3
    assert j.first() == (a, START, {"connectorId": 1, "idTag": "abc", "meterStart": 0})
    assert j.confirm(a) and not j.confirm(a)  # twice: the second is a no-op
    assert j.first() == (b, METER, _meter(1))
    assert j.confirm(c)  # out of order is allowed
    assert [r[0] for r in j.records()] == [b]
    assert j.confirm(b) and j.first() is None and len(j) == 0


def test_everything_survives_a_restart():
    j = _journal()
    a = j.append(START, {"idTag": "abc"})
    j.set_transaction_id(1, 4711)
    b = j.append(METER, _meter(1))
    assert j.attempted(b) == 1 and j.attempted(b) == 2
    c = j.append(STOP, {"idTag": "abc"})
    j.confirm(a)
    again = Journal(j.path, max_bytes=j.max_bytes)
    assert _state(again) == _state(j)
    assert again.first() == (b, METER, _meter(1)) and again.attempts(b) == 2
    assert again.transaction_id(1) == 4711
    d = again.append(METER, _meter(2))
    assert d == c + 1  # seqs go on, never reused
    assert [r[0] for r in again.records()] == [b, c, d]


def test_seqs_wrap_below_the_small_int_limit_and_order_holds():
    # On a 32-bit port small ints end at 2^30: seqs wrap at 2^29, never 0,
    # and the order is the file's, not the numbers'.
    j = _journal()
    j._seq = (1 << 29) - 2
    seqs = [j.append(METER, _meter(n)) for n in range(4)]
    assert seqs == [(1 << 29) - 1, 1, 2, 3]
    assert [r[0] for r in j.records()] == seqs and j.first()[0] == seqs[0]
    again = Journal(j.path, max_bytes=j.max_bytes)
    assert [r[0] for r in again.records()] == seqs and again.last_seq() == 3
    again._compact()
    again = Journal(j.path, max_bytes=j.max_bytes)
    assert [r[0] for r in again.records()] == seqs and again.append(METER, _meter(9)) == 4


def test_the_transaction_id_of_an_offline_start_is_kept_and_bounded():
    j = _journal()
    j.set_transaction_id("r4", 9)
    j.set_transaction_id("r4", 10)  # a repeated answer replaces
    assert j.transaction_id("r4") == 10
    for ref in range(100, 120):
        j.set_transaction_id(ref, ref * 2)
    assert j.transaction_id("r4") is None  # the oldest went, the newest 16 stay
    assert j.transaction_id(104) == 208 and j.transaction_id(119) == 238 and j.transaction_id(103) is None
    again = Journal(j.path, max_bytes=j.max_bytes)
    assert again.transaction_id(104) == 208 and again.transaction_id(103) is None


def test_bad_input_is_refused_and_changes_nothing():
    j = _journal()
    j.append(START, {"idTag": "a"})
    size = j.file_bytes()
    for action, payload in (("", {}), (None, {}), (METER, "x"), (METER, [1])):
        try:
            j.append(action, payload)
        except ValueError:
            pass
        else:
            raise AssertionError("accepted %r %r" % (action, payload))
    try:
        j.append(METER, {"x": "y" * 70000})
    except ValueError as e:
        assert "70" in str(e)
    else:
        raise AssertionError("accepted a record too long for its length field")
    for payload in ({"x": b"bytes"}, {"x": {1, 2}}, {"x": [object()]}, {1: 2}, {"x": (1, 2)}):
        try:
            j.append(METER, payload)
        except ValueError:
            pass
        else:
            raise AssertionError("accepted %r" % payload)
    for ref, tx in ((1, "7"), (1, True), (None, 7), (True, 7)):
        try:
            j.set_transaction_id(ref, tx)
        except ValueError:
            pass
        else:
            raise AssertionError("accepted %r %r" % (ref, tx))
    assert j.file_bytes() == size and len(j) == 1 and read(j.path) and len(read(j.path)) == size


def test_offline_the_oldest_meter_values_go_first_and_start_stop_never():
    j = _journal(max_bytes=4096)
    kept = []
    for session in range(3):
        kept.append(j.append(START, {"s": session}))
        for n in range(40):
            j.append(METER, _meter(n, pad=40))
            assert j.live_bytes() <= j.max_bytes
        kept.append(j.append(STOP, {"s": session}))
    assert j.dropped > 0
    seqs = [r[0] for r in j.records()]
    assert seqs == sorted(seqs)  # still in order
    actions = [r[1] for r in j.records()]
    assert actions.count(START) == 3 and actions.count(STOP) == 3
    meters = [r[2]["n"] for r in j.records() if r[1] == METER]
    assert meters == list(range(40 - len(meters), 40))  # the newest survived
    for seq in kept:
        assert seq in seqs
    # And on flash it stays bounded: the file is compacted as it goes.
    assert j.file_bytes() <= 2 * j.max_bytes + 600
    assert _state(Journal(j.path, max_bytes=j.max_bytes)) == _state(j)


def test_a_start_without_room_for_its_stop_is_refused_a_stop_always_goes_in():
    j = _journal(max_bytes=2048)
    pad = {"idTag": "x" * 600}
    j.append(START, pad)
    try:
        j.append(START, pad)  # 2 x 600 + 1024 for the last Stop: no room
    except JournalFull:
        pass
    else:
        raise AssertionError("a Start was journalled without room for its Stop")
    assert len(j) == 1
    assert j.append(STOP, {"transactionData": "y" * 1000}) and j.append(STOP, {"t": "z" * 900})
    assert len(j) == 3  # over the bound, but a Stop is never lost
    assert j.append(METER, _meter(1)) is None and len(j) == 3  # nothing to drop: this one is not kept


def test_confirmed_records_are_compacted_away():
    j = _journal(max_bytes=2048)
    for n in range(200):
        s = j.append(METER, _meter(n, pad=20))
        if n % 3:
            j.attempted(s)
        j.confirm(s)
        assert j.file_bytes() <= 2 * j.max_bytes + 200
    live = j.append(METER, _meter(999))
    j.set_transaction_id(3, 33)
    assert len(j) == 1 and j.file_bytes() < j.max_bytes
    assert _state(Journal(j.path, max_bytes=j.max_bytes)) == _state(j)
    assert j.first()[0] == live


def _scenario():
    """A journal with some history: confirmed, live, attempts, ids."""
    j = _journal(max_bytes=2048)
    a = j.append(START, {"idTag": "abc", "meterStart": 0})
    j.set_transaction_id(1, 4711)
    j.confirm(a)
    b = j.append(METER, _meter(1))
    j.attempted(b)
    j.append(METER, _meter(2))
    j.set_transaction_id(2, 4712)
    return j


def test_a_power_cut_at_every_byte_of_an_append_loses_only_that_record():
    j = _scenario()
    before = read(j.path)
    state_before = _state(j)
    j.append(STOP, {"transactionId": 4711, "meterStop": 1234, "reason": "EVDisconnected"})
    after = read(j.path)
    state_after = _state(j)
    assert after[:len(before)] == before
    delta = after[len(before):]
    for k in range(len(delta)):
        # The cut leaves a prefix of the record, perhaps followed by what the
        # flash held (erased: 0xff) or half-programmed (zeros).
        for junk in (b"", b"\xff" * (len(delta) - k), b"\x00" * (len(delta) - k)):
            write(j.path, before + delta[:k] + junk)
            cut = Journal(j.path, max_bytes=j.max_bytes)
            assert _state(cut) == state_before, (k, junk[:1])
            # The torn tail is gone for good: what comes next is not lost behind it.
            s = cut.append(METER, _meter(7))
            assert _state(Journal(j.path, max_bytes=j.max_bytes))[0] == state_before[0] + [(s, METER, _meter(7))]
    write(j.path, after)
    assert _state(Journal(j.path, max_bytes=j.max_bytes)) == state_after


def test_a_power_cut_at_every_byte_of_a_compaction_loses_nothing():
    j = _scenario()
    for n in range(10):  # garbage to compact, just under the trigger
        j.confirm(j.append(METER, _meter(n)))
    old = read(j.path)
    state = _state(j)
    j._compact()  # what the trigger would do: the same code
    new = read(j.path)
    assert len(new) < len(old) and _state(j) == state
    tmp = j.path + ".tmp"
    assert not exists(tmp)
    for k in range(len(new) + 1):  # the .tmp cut at byte k, or whole but not yet renamed
        write(j.path, old)
        write(tmp, new[:k])
        cut = Journal(j.path, max_bytes=j.max_bytes)
        assert _state(cut) == state, k
        assert not exists(tmp)  # the leftover is gone
    remove(tmp)
    write(j.path, new)  # renamed: the new file alone
    assert _state(Journal(j.path, max_bytes=j.max_bytes)) == state


def test_a_start_is_confirmed_with_its_transaction_id_in_one_record():
    # Never the id without the confirmation: the Start would be sent again
    # after a restart and open a second transaction at the central system.
    j = _scenario()
    a = j.append(START, {"idTag": "abc", "meterStart": 5})
    m = j.append(METER, _meter(3))
    for bad in ("7", True, 7.5):
        try:
            j.confirm(a, bad)
        except ValueError:
            pass
        else:
            raise AssertionError("confirmed with transactionId %r" % (bad,))
    assert a in [r[0] for r in j.records()] and j.transaction_id(a) is None
    before = read(j.path)
    unconfirmed = _state(j)
    assert j.confirm(a, 4713) and not j.confirm(a, 4714)
    assert j.transaction_id(a) == 4713 and a not in [r[0] for r in j.records()]
    assert _state(Journal(j.path, max_bytes=j.max_bytes)) == _state(j)
    again = Journal(j.path, max_bytes=j.max_bytes)
    assert again.transaction_id(a) == 4713 and again.first() is not None
    assert m in [r[0] for r in again.records()]
    after = read(j.path)
    assert after[:len(before)] == before
    for k in range(len(after) - len(before)):
        write(j.path, after[:len(before) + k])
        cut = Journal(j.path, max_bytes=j.max_bytes)
        assert a in [r[0] for r in cut.records()] and cut.transaction_id(a) is None, k
        assert _state(cut) == unconfirmed, k
    # And the id outlives a compaction.
    write(j.path, after)
    again = Journal(j.path, max_bytes=j.max_bytes)
    again._compact()
    assert Journal(j.path, max_bytes=j.max_bytes).transaction_id(a) == 4713


def test_a_flipped_bit_in_an_old_record_stops_the_replay_there():
    # Not a power cut (those only hit the end) but flash going bad: replay
    # keeps what precedes the damage and never returns a damaged record.
    j = _journal()
    a = j.append(START, {"idTag": "abc"})
    j.append(METER, _meter(1))
    data = bytearray(read(j.path))
    data[len(encode(["A", a, START, {"idTag": "abc"}])) + 5] ^= 1
    write(j.path, bytes(data))
    again = Journal(j.path, max_bytes=j.max_bytes)
    assert [r[0] for r in again.records()] == [a]


def test_flash_bytes_per_hour_counts_what_an_hour_of_charging_writes():
    per_record = len(encode(["A", (1 << 29) - 1, METER, typical_meter_values()])) + len(encode(["C", (1 << 29) - 1]))
    assert flash_bytes_per_hour(10) == 360 * per_record
    assert flash_bytes_per_hour(60) == 60 * per_record
    assert flash_bytes_per_hour(0) == 0  # no sampling, no MeterValues
    # And the journal itself writes exactly that for such an hour, connected.
    j = _journal(max_bytes=1 << 20)  # no compaction in this hour
    for n in range(360):
        j.confirm(j.append(METER, typical_meter_values()))
    # Seqs 1..360 are shorter than the figure's worst case of 9 digits.
    assert flash_bytes_per_hour(10) - 360 * 2 * 8 <= j.bytes_written <= flash_bytes_per_hour(10)


def test_records_are_packed_and_come_back_exactly():
    j = _journal()
    tricky = {"idTag": "Voltage", "x": "\u00e9\n\t\"\\", "reason": "EVDisconnected",
              "transactionData": [{"sampledValue": [{"measurand": "Energy.Active.Import.Register"}]}]}
    s = j.append(STOP, tricky)
    assert j.first() == (s, STOP, tricky)
    assert Journal(j.path, max_bytes=j.max_bytes).first() == (s, STOP, tricky)
    # OCPP's words take a byte each: a typical MeterValues is under 200 bytes on flash.
    assert len(encode(["A", 12345, METER, typical_meter_values()])) < 200


class _FullFlash:
    """A file whose writes stop after ``room`` bytes with ENOSPC, as a full
    flash does: what fitted is written."""

    def __init__(self, path, mode, room):
        self.f = open(path, mode)
        self.room = room

    def write(self, data):
        n = min(len(data), self.room[0])
        self.f.write(data[:n])
        self.room[0] -= n
        if n < len(data):
            raise OSError(28)  # ENOSPC
        return n

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_a_failed_write_loses_only_that_record_and_nothing_after_it():
    j = _scenario()
    state = _state(j)
    room = [10]  # the flash fills 10 bytes into the next record
    j._open = lambda path, mode: _FullFlash(path, mode, room)
    try:
        j.append(STOP, {"transactionId": 4711, "meterStop": 1234})
    except OSError:
        pass
    else:
        raise AssertionError("a write that failed was not reported")
    assert _state(j) == state  # not journalled: the caller knows, and nothing changed
    room[0] = 1 << 20  # space again (the charge point retries)
    s = j.append(STOP, {"transactionId": 4711, "meterStop": 1234})
    again = Journal(j.path, max_bytes=j.max_bytes)
    assert _state(again) == _state(j)  # the torn bytes did not hide it
    assert [r[0] for r in again.records()][-1] == s


def test_a_compaction_that_fails_does_not_make_a_written_record_look_lost():
    j = _journal(max_bytes=2048)
    room = [0]  # no room for the compaction's .tmp; appends still go through
    j._open = lambda path, mode: open(path, mode) if mode == "ab" else _FullFlash(path, mode, room)
    seqs = []
    for n in range(80):  # enough garbage to want a compaction, and more
        seqs.append(j.append(METER, _meter(n)))
        if n % 2:
            j.confirm(seqs[-2])
    assert None not in seqs and len(j) > 0
    assert j.file_bytes() - j.live_bytes() > j.max_bytes + 1000  # past the trigger: it could not compact, and said nothing
    assert not exists(j.path + ".tmp")
    assert _state(Journal(j.path, max_bytes=j.max_bytes)) == _state(j)
    room[0] = 1 << 20  # space again: the next write's check compacts
    j.confirm(j.first()[0])
    assert j.file_bytes() < j.max_bytes
    assert _state(Journal(j.path, max_bytes=j.max_bytes)) == _state(j)
