"""OCPP 1.6J charge point (issue 13). Imported only when SystemConfig OcppEndpoint is set."""
