"""What the WebSocket client costs on the heap (evsectl.wsheap, tools/ws-heap).

The figures are printed (pytest -s shows them); the bounds are the client's
design claims, so a change that breaks one fails here: sending masks frames
in one reused buffer (a send allocates the message's UTF-8 copy and small
objects, no frame-sized buffer), and a connection with its buffers stays a
few KB on the 32-bit port.
"""

import json

import micropython32
from evsectl import wsheap


def test_heap_figures_of_a_connected_client():
    figures = wsheap.measure(micropython32=micropython32.exe())
    print(json.dumps(figures, indent=1, sort_keys=True))
    # one 1000-byte text message: its UTF-8 copy (1000 bytes + object header), nothing frame-sized more
    assert 1000 <= figures["ws_send_alloc_bytes_32"] < 1000 + 256, figures
    # socket, stream, WebSocket, its buffers (1 KB receive buffer after a 1000-byte message)
    assert 2000 < figures["ws_connection_bytes_32"] < 8 * 1024, figures
    # with the app in ROM the client's bytecode stays in flash
    assert figures["ws_import_bytes_rom_32"] < figures["ws_import_bytes_32"] // 2, figures
    assert figures["ws_tls_connection_bytes"] > figures["ws_connection_bytes"], figures
    assert figures["ws_tls_min_heap_kib"] >= figures["ws_min_heap_kib"], figures
