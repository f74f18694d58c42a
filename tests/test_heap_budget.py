"""Issue 2's heap budget: with the app in ROM, as ``evsectl flash`` lays a
board out, the firmware boots, serves every endpoint and charges a vehicle
within a 96 KiB MicroPython heap (``-X heapsize=96k``). ``evsectl bench``
prints how close it comes (min_heapsize_kib); this test holds the line."""

from evsectl import bench


def test_the_charger_boots_serves_and_charges_within_96_kib_of_heap(sim_factory):
    c = sim_factory(extra=("--heapsize", "96k", "--romfs")).client
    for name in bench.ENDPOINTS_GET:
        assert c.get("/webapi/v1/" + name).status == 200, name
    for path, body in bench.ENDPOINTS_POST:
        assert c.post(path, body).status == 200, path

    c.vehicle(State="B", CableA=32)
    c.advance(1000)
    c.vehicle(State="C", DrawA=12)
    c.advance(5000)
    status = c.status()
    assert status["ChargerStarted"] and status["EvseState"] == 5 and status["ActualCurrent"] == 12
    assert c.board()["RelayClosed"]
    c.vehicle(State="B")
    c.advance(200)
    assert not c.board()["RelayClosed"] and c.status()["EvseState"] == 4
