"""TLS client contexts from a configured CA certificate, for every client
that connects out (ocpp.ws for wss://, mqtt.client), under MicroPython and
CPython. Imported only by a client that uses TLS."""

import binascii


def ders(ca):
    """The CA certificate(s) ``ca`` (PEM text or DER bytes) as a list of DER
    bytes: MicroPython's mbedTLS may be built without PEM, so we decode it.
    ValueError when it is neither."""
    if isinstance(ca, str):
        ca = ca.encode()
    if not isinstance(ca, (bytes, bytearray)) or not ca:
        raise ValueError("CA certificate: PEM text or DER bytes")
    begin, end = b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----"
    if ca[:1] == b"\x30":  # DER: an ASN.1 SEQUENCE
        return [bytes(ca)]
    found = []
    i = ca.find(begin)
    while i >= 0:
        j = ca.find(end, i)
        if j < 0:
            break
        try:
            found.append(binascii.a2b_base64(b"".join(ca[i + len(begin) : j].split())))
        except ValueError:
            raise ValueError("CA certificate: bad base64 in PEM")
        i = ca.find(begin, j)
    if not found:
        raise ValueError("CA certificate: no PEM certificate found")
    return found


def client_context(ca):
    """A client TLS context that trusts only ``ca`` and checks the server's
    host name. ImportError on a build without TLS (no ``ssl`` module)."""
    found = ders(ca)
    import ssl

    if hasattr(ssl, "create_default_context"):  # CPython: verify + host name on
        return ssl.create_default_context(cadata=b"".join(found))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # MicroPython's default is CERT_NONE: anyone could pose as the server.
    # With CERT_REQUIRED and a server_hostname, mbedTLS checks the name too.
    ctx.verify_mode = ssl.CERT_REQUIRED
    for der in found:
        ctx.load_verify_locations(cadata=der)
    return ctx
