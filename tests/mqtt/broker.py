"""The broker of tests/mqtt: evsectl.mosquitto's (Debian's mosquitto on a
free loopback port), kept in the host package because ``evsectl bench``
needs one too."""

from evsectl.mosquitto import Broker, free_port  # noqa: F401
