"""Energy meters: Modbus RTU/TCP client and the meter models as register maps."""
