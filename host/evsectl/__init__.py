"""evsectl: build, flash, deploy, update and simulate the EVSE firmware."""

__version__ = "0.1.0"
