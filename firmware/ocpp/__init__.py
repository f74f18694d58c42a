"""OCPP 1.6J charge point (issue 13): the WebSocket transport (ws), the transaction journal,
the configuration keys and the Core profile. Imported only when SystemConfig OcppEndpoint is set."""
