"""The OCPP connection's settings in SystemConfig (docs/webapi.md, "OCPP"): their
checks, apart from app.config so that a charger pays heap for them only
when an OCPP key is written or OCPP is on."""

from app.config import parse_http_url


def parse_ws_url(text):
    """``"ws[s]://host[:port][/path]"`` → (secure, host, port, path without
    a trailing slash), or None if malformed. The port defaults to 80 for
    ws://, 443 for wss://."""
    secure = text.startswith("wss://")
    if not secure and not text.startswith("ws://"):
        return None
    rest = text[6 if secure else 5:]
    parsed = parse_http_url("http://" + rest)
    if not parsed:
        return None
    if ":" not in rest.partition("/")[0]:
        return secure, parsed[0], 443 if secure else 80, parsed[2]
    return (secure,) + parsed


def check_pem(text):
    """None if ``text`` is one PEM certificate (an X.509 DER SEQUENCE in
    base64 between the markers), else why not."""
    from binascii import a2b_base64

    lines = text.strip().split("\n")
    if len(lines) < 3 or lines[0].strip() != "-----BEGIN CERTIFICATE-----" or lines[-1].strip() != "-----END CERTIFICATE-----":
        return "must be \"\" or one PEM certificate: -----BEGIN CERTIFICATE-----, base64 lines, -----END CERTIFICATE-----"
    body = "".join(line.strip() for line in lines[1:-1])
    for c in body:  # a2b_base64 would skip what is not base64
        if not (c.isalpha() or c.isdigit() or c in "+/="):
            return "must be a PEM certificate: %r is not base64" % c
    try:
        der = a2b_base64(body)
    except ValueError:
        der = b""
    if len(der) < 64 or der[0] != 0x30 or len(body) % 4:
        return "must be a PEM certificate: its base64 body is not a certificate"
    return None


def check(kind, value, hi):
    """None if ``value`` (a str) suits an OCPP setting of ``kind``, else why not."""
    if kind == "ws":
        if len(value) > hi or value and not parse_ws_url(value):
            return "must be \"\" or a ws:// or wss:// URL of at most %d characters, without the BoxId" % hi
        return None
    if kind == "pem":
        if len(value) > hi:
            return "must be at most %d characters" % hi
        return check_pem(value) if value else None
    if len(value) > hi or not all(c.isalpha() or c.isdigit() or c in "-_." for c in value):  # "id"
        return "must be at most %d letters, digits, - _ or ." % hi
    return None


def errors_together(changes, merged):
    """What is wrong with the OCPP settings as a whole (OCPP on)."""
    profile = merged("OcppSecurityProfile")
    secure = merged("OcppEndpoint").startswith("wss://")
    blame = "OcppSecurityProfile" if "OcppSecurityProfile" in changes else "OcppEndpoint"
    if profile == 2 and not secure or profile < 2 and secure:
        return {blame: "security profile %d needs a %s endpoint" % (profile, "wss://" if profile == 2 else "ws://")}
    if not merged("OcppBoxId"):
        return {"OcppBoxId": "OCPP needs a BoxId (OcppEndpoint is set)"}
    if profile and not merged("OcppAuthKey"):
        return {"OcppAuthKey" if "OcppAuthKey" in changes else blame: "security profile %d needs an OcppAuthKey" % profile}
    if profile == 2 and not merged("OcppCaCert"):
        return {"OcppCaCert" if "OcppCaCert" in changes else blame: "security profile 2 needs the CA certificate (OcppCaCert)"}
    return {}
