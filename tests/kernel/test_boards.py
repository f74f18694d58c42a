"""The board files: each loads, and its stop inputs fail safe (issue 20 item 11).

An EPO or RCM trip input whose wire breaks is left to the board's pull
resistor: that level must read as tripped, or a broken wire silently
disables the protection."""

import json

from hal import board as boardfile
from bench import ROOT

BOARDS = ("sim", "esp32-devkit")


def _path(name):
    return ROOT + "/boards/" + name + ".json"


def test_every_board_file_loads_and_fails_safe():
    for name in BOARDS:
        board = boardfile.load(_path(name))
        assert boardfile.fails_safe(board["epo"], "active_low"), name
        assert boardfile.fails_safe(board["rcm"], "trip_active_low"), name


def test_a_stop_input_that_reads_a_broken_wire_as_not_tripped_is_refused():
    for section, low_key in (("epo", "active_low"), ("rcm", "trip_active_low")):
        for active_low, pull in ((False, "down"), (True, "up"), (False, None)):
            conf = {low_key: active_low}
            if pull:
                conf["pull"] = pull
            assert not boardfile.fails_safe(conf, low_key), (section, active_low, pull)


def test_load_refuses_a_board_whose_epo_fails_unsafe():
    with open(_path("esp32-devkit")) as f:
        board = json.load(f)
    board["epo"]["pull"] = "down"  # active high with a pull-down: a broken wire reads "not pressed"
    path = "/tmp/evse-test-unsafe-board.json"
    with open(path, "w") as f:
        json.dump(board, f)
    try:
        boardfile.load(path)
    except boardfile.BoardError as e:
        assert "epo" in str(e)
    else:
        raise AssertionError("an unsafe EPO input was accepted")


def test_the_lock_type_decides_lock_method():
    with open(_path("sim")) as f:
        board = json.load(f)
    assert boardfile.params(board).lock_method == 0
    board["lock"]["type"] = "servo"
    assert boardfile.params(board).lock_method == 1


def test_the_rcm_test_window_comes_from_the_board_file():
    board = boardfile.load(_path("esp32-devkit"))
    assert boardfile.params(board).rcm_test_ms == board["rcm"]["test_ms"]
