"""tests/mqtt: the MQTT client and its adapters against Debian's mosquitto.

Fixtures: ``broker`` (a mosquitto of its own on a free loopback port, and
TLS on ``broker.tls_port`` with a certificate for "localhost" signed by
``certs["ca"]``; stopped after the test; see broker.py), ``mqtt_env`` (the
broker's ports and CA files in the environment, for client_cases.py) and ``peer`` (a function making
connected paho-mqtt peers, see peer.py, closed after the test). firmware/,
tests/charger/ and this folder are importable as on the device; each test
runs in a fresh directory."""

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_TESTS = os.path.dirname(_HERE)

for _path in (_HERE, _TESTS, os.path.join(_TESTS, "charger"), os.path.join(os.path.dirname(_TESTS), "firmware")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from broker import Broker  # noqa: E402
from peer import Peer  # noqa: E402
from evsectl.wsheap import make_certs  # noqa: E402


@pytest.fixture(autouse=True)
def _in_a_fresh_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """A CA, another with the same name, and a server certificate for "localhost"."""
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def broker(tmp_path, certs):
    b = Broker(tmp_path, certs=certs).start()
    yield b
    b.stop()


@pytest.fixture
def mqtt_env(broker, certs, monkeypatch):
    monkeypatch.setenv("MQTT_TEST_PORT", str(broker.port))
    monkeypatch.setenv("MQTT_TEST_TLS_PORT", str(broker.tls_port))
    monkeypatch.setenv("MQTT_TEST_CA", str(certs["ca"]))
    monkeypatch.setenv("MQTT_TEST_WRONG_CA", str(certs["wrongca"]))
    return broker


@pytest.fixture
def peer(broker):
    made = []

    def make(**kw):
        p = Peer(kw.pop("port", broker.port), **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()
