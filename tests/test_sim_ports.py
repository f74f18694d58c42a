"""evsectl sim holds its WebAPI port from the moment it checks it until the
firmware takes it. The simulated meters start in between on ports the
system picks, and once the system picked the very port the test had found
free for the WebAPI: the firmware's server could not listen ("task web
failed", EADDRINUSE) and the simulator never answered."""

import socket

import pytest

from evsectl import sim
from evsectl.errors import UserError
from simclient import free_port


def test_a_held_port_is_not_given_to_anyone_else_even_with_reuseaddr():
    port = free_port()
    held = sim.reserve_port(port)
    try:
        other = socket.socket()
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as pymodbus's servers bind
        with other, pytest.raises(OSError):
            other.bind(("127.0.0.1", port))
        with pytest.raises(UserError, match="port %d is taken" % port):
            sim.reserve_port(port)
    finally:
        held.close()
    again = sim.reserve_port(port)  # released: the firmware can take it
    again.close()
