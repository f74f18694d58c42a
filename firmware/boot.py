"""Runs first at every power-up and reset: contactor open, CP not offering,
before main.py loads anything else."""

from hal import board, open_board

open_board(board.load("board.json"))[0].safe()
