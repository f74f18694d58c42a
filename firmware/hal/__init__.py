"""Hardware adapters. The kernel never imports them; they depend on it."""


def open_board(board):
    """The board adapter and WiFi adapter a board file asks for."""
    if board["hal"] == "sim":
        from hal.sim import SimBoard
        from hal.wifi_sim import SimWifi

        return SimBoard(board), SimWifi()
    from hal.esp32 import Esp32Board
    from hal.wifi_esp32 import Esp32Wifi

    return Esp32Board(board), Esp32Wifi()
