"""The heap MQTT with the Josev and EVerest consumer adapters takes on the
32-bit port (an ESP32's words), measured by heap_probe.py against a
mosquitto of its own: the client, each adapter (code loaded from .py, so
bytecode included: frozen into ROM it would cost less), and a virtual
minute of a session with both publishing and answering requests. The
figures are printed (pytest -s) and held to their lines here."""

import json
import os
import subprocess

import micropython32

HERE = os.path.dirname(os.path.abspath(__file__))

# The lines (bytes): what was measured on 4 Dec 2026, and some room.
CLIENT_MAX = 11 * 1024  # measured 9856, with its two buffers of 768 bytes
JOSEV_MAX = 5 * 1024  # measured 4000
EVEREST_MAX = 20 * 1024  # measured 17968
# Live during the session: the messages queued, in flight, being built;
# measured 1.7 to 3.5 KiB, as many as the moment sampled holds. Bounded by
# the client's queue (16 messages) of our biggest (a session_event, ~0.6 KiB).
SESSION_LIVE_PEAK_MAX = 12 * 1024
SESSION_LEFT_MAX = 1024  # what a session leaves behind: measured 208


def test_mqtt_josev_everest_heap_on_32_bit(tmp_path, broker):
    proc = subprocess.run([micropython32.exe(), "-X", "heapsize=4m", os.path.join(HERE, "heap_probe.py"),
                           str(broker.port)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    print("32-bit heap, bytes:", figures)
    assert figures["client"] <= CLIENT_MAX
    assert figures["josev"] <= JOSEV_MAX
    assert figures["everest"] <= EVEREST_MAX
    assert figures["session_live_peak"] <= SESSION_LIVE_PEAK_MAX
    assert figures["session_left"] <= SESSION_LEFT_MAX
