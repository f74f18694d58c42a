"""WiFi on the ESP32: station when configured, otherwise a setup access point.

    wifi = Esp32Wifi()
    wifi.start(config.ssid, config.password, "EVSE")
    asyncio.create_task(wifi.supervise())

With an SSID configured the charger joins that network (mode ``"sta"``).
Without one, or when the network cannot be joined within CONNECT_TIMEOUT_MS,
it opens its own access point (mode ``"ap"``) so it can be set up from a
phone: the AP's name is the device name and the last three bytes of the MAC,
e.g. ``EVSE-52AAD4``, and it is WPA2-protected with the fixed setup password
``AP_PASSWORD`` (``evse-setup``), printed in the manual. A fixed password
keeps passers-by from joining by accident; it is no secret, so the setup
page must not be trusted to be private.

An access point opened because the network was unreachable tries the
network again every RETRY_MS while no phone is connected to it, so a charger
comes back by itself after a router outage. One opened on request
(``set_ap()``, the WiFiSetToAP service code) stays until the next
``start()`` or restart.
"""

import asyncio

import network

from evse.compat import const

AP_PASSWORD = "evse-setup"
CONNECT_TIMEOUT_MS = const(20000)
RETRY_MS = const(300000)
POLL_MS = const(500)
SSID_MAX = const(32)


def format_mac(mac):
    """``b"\\xe0\\xe2..."`` -> ``"E0:E2:E6:52:AA:D4"``."""
    return ":".join("%02X" % b for b in mac)


def ap_ssid(device_name, mac):
    """The setup AP's name: the device name and the MAC's last three bytes."""
    suffix = "-%02X%02X%02X" % (mac[3], mac[4], mac[5])
    return device_name[: SSID_MAX - len(suffix)] + suffix


class Esp32Wifi:
    def __init__(self):
        self._sta = network.WLAN(network.STA_IF)
        self._ap = network.WLAN(network.AP_IF)
        self._mac = self._sta.config("mac")  # the station MAC names the device
        self.mode = "off"  # "sta" | "ap" | "off"
        self.errors = 0  # WiFi driver errors survived by supervise()
        self._ssid = ""
        self._password = ""
        self._device_name = "EVSE"
        self._forced_ap = False  # AP on request: no retries of the station
        self._waited_ms = 0  # station not connected / AP without retry, this long

    def start(self, ssid, password, device_name):
        """Join ``ssid`` (station), or open the setup AP when none is configured."""
        self._ssid = ssid or ""
        self._password = password or ""
        self._device_name = device_name
        self._forced_ap = False
        if self._ssid:
            try:
                self._start_sta()
                return
            except OSError:
                self.errors += 1
        self._start_ap()

    def set_ap(self):
        """Switch to the setup access point now and stay there (WiFiSetToAP)."""
        self._forced_ap = True
        self._start_ap()

    def _start_sta(self):
        self._ap.active(False)
        self._sta.active(True)
        self._sta.connect(self._ssid, self._password)
        self.mode = "sta"
        self._waited_ms = 0

    def _start_ap(self):
        self._sta.active(False)  # a station still searching would hop the AP's channel
        self._ap.config(
            ssid=ap_ssid(self._device_name, self._mac), security=network.AUTH_WPA2_PSK, key=AP_PASSWORD
        )
        self._ap.active(True)
        self.mode = "ap"
        self._waited_ms = 0

    async def supervise(self):
        """Run forever: fall back to the AP when the station stays down, retry later."""
        while True:
            await asyncio.sleep_ms(POLL_MS)
            try:
                self._supervise_step()
            except OSError:
                # A driver error must not end supervision: the next round retries.
                self.errors += 1

    def _supervise_step(self):
        if self.mode == "sta":
            if self._sta.isconnected():
                self._waited_ms = 0
                return
            self._waited_ms += POLL_MS
            if self._waited_ms >= CONNECT_TIMEOUT_MS:
                self._start_ap()
        elif self.mode == "ap" and self._ssid and not self._forced_ap:
            # ap.isconnected() is True while a phone is connected to the AP.
            if self._ap.isconnected():
                self._waited_ms = 0
                return
            self._waited_ms += POLL_MS
            if self._waited_ms >= RETRY_MS:
                self._start_sta()

    # -- status ----------------------------------------------------------------

    def ssid(self):
        """The network joined (or being joined), or the AP's own name; "" when off."""
        if self.mode == "sta":
            return self._ssid
        if self.mode == "ap":
            return self._ap.config("ssid")
        return ""

    def rssi(self):
        """Signal strength of the joined network in dBm; 0 when not connected."""
        if self.mode == "sta" and self._sta.isconnected():
            return self._sta.status("rssi")
        return 0

    def mac(self):
        return format_mac(self._mac)

    def ip(self):
        """The charger's address on the active interface; "0.0.0.0" when none."""
        if self.mode == "sta" and self._sta.isconnected():
            return self._sta.ifconfig()[0]
        if self.mode == "ap":
            return self._ap.ifconfig()[0]
        return "0.0.0.0"
