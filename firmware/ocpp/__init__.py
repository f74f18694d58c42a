"""OCPP 1.6J charge point: the WebSocket transport (ws), and the Core profile built on it."""
