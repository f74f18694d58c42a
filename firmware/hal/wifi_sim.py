"""WiFi for the simulator: the interface of ``Esp32Wifi`` with nothing behind it.

The simulated charger is always "connected" to ``SIM-WIFI`` at -49 dBm and
serves on the laptop's loopback address; ``set_ap()`` switches to the setup
access point name the real charger would use, so the WebAPI's WiFiInfo and
the AP-mode rules (no OTA in AP mode) can be tested.
"""

import asyncio

SSID = "SIM-WIFI"
RSSI_DBM = -49
MAC = b"\x02\x00\x00\x00\x00\x01"  # locally administered, never changes
IP = "127.0.0.1"
SSID_MAX = 32


class SimWifi:
    def __init__(self):
        self.mode = "off"  # "sta" | "ap" | "off"
        self.errors = 0
        self._device_name = "EVSE"

    def start(self, ssid, password, device_name):
        """Join the simulated network, whatever is configured."""
        self._device_name = device_name
        self.mode = "sta"

    def set_ap(self):
        self.mode = "ap"

    async def supervise(self):
        while True:
            await asyncio.sleep(3600)

    def ssid(self):
        if self.mode == "sta":
            return SSID
        if self.mode == "ap":
            # The same naming rule as Esp32Wifi: device name and the MAC's last bytes.
            suffix = "-%02X%02X%02X" % (MAC[3], MAC[4], MAC[5])
            return self._device_name[: SSID_MAX - len(suffix)] + suffix
        return ""

    def rssi(self):
        return RSSI_DBM if self.mode == "sta" else 0

    def mac(self):
        return ":".join("%02X" % b for b in MAC)

    def ip(self):
        return IP if self.mode != "off" else "0.0.0.0"
