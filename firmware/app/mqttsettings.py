"""The MQTT settings in SystemConfig (docs/mqtt.md): their checks, apart
from app.config so that a charger pays heap for them only when an MQTT key
is written or MQTT is on."""


def check(kind, value, hi):
    """None if ``value`` (a str) suits an MQTT setting of ``kind``, else why not.

    "host": a host name or IPv4 address, or "" (off). "topic": a topic
    prefix: levels of printable characters split by "/", no wildcard (+, #),
    no empty level, or "" (the default, evse/<MAC>)."""
    if len(value) > hi:
        return "must be at most %d characters long" % hi
    if kind == "host":
        for c in value:
            if not (c.isalpha() or c.isdigit() or c in ".-"):
                return "must be \"\" or a host name or IPv4 address (letters, digits, . and -), not %r" % c
        if value.startswith(".") or value.startswith("-") or ".." in value:
            return "must be \"\" or a host name or IPv4 address"
        return None
    # "topic"
    for c in value:
        if c in "+#" or ord(c) < 33 or ord(c) == 127:
            return "must be MQTT topic levels split by /, without wildcards (+, #), spaces or control characters"
    if value and (value.startswith("/") or value.endswith("/") or "//" in value):
        return "must not begin or end with /, nor have an empty level"
    return None


def errors_together(changes, merged):
    """{key: why} for MQTT settings that do not fit together (app.config.validate)."""
    errors = {}
    if merged("MqttPassword") and not merged("MqttUser"):
        # MQTT 3.1.1 (3.1.2.9): no password without a user name.
        errors["MqttUser" if "MqttUser" in changes else "MqttPassword"] = "a password (MqttPassword) needs a user (MqttUser)"
    if merged("MqttTls"):
        ssl = _ssl()
        if ssl is None:
            errors["MqttTls"] = "this firmware has no TLS (no ssl module)"
        elif not merged("MqttCaCert") and not hasattr(ssl, "create_default_context"):
            key = "MqttCaCert" if "MqttCaCert" in changes else "MqttTls"
            errors[key] = "TLS needs MqttCaCert, the CA the broker's certificate chains to: this firmware has no CA store"
    return errors


def _ssl():
    try:
        import ssl
    except ImportError:
        return None
    return ssl


def has_tls():
    return _ssl() is not None
