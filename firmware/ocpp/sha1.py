"""SHA-1 in pure Python, for ports whose ``hashlib`` has no ``sha1``.

The WebSocket handshake needs SHA-1 once per connection: the server proves
it read our key by answering ``base64(sha1(key + GUID))``. ESP32 builds have
``hashlib.sha1``; some builds (the 32-bit unix port here) do not. This module
is imported only then, so a board that has the C version pays nothing for it.

Slow (a few ms per 64-byte block) and it allocates long ints on 32-bit ports
(words above 2^30), which is fine for one short digest per connection and
not meant for anything else. FIPS 180-4, section 6.1.
"""

_MASK = 0xFFFFFFFF


def _rotl(x, n):
    return ((x << n) | (x >> (32 - n))) & _MASK


def sha1(data):
    """The 20-byte SHA-1 digest of ``data`` (bytes-like)."""
    h0, h1, h2, h3, h4 = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0
    n = len(data)
    # Padding: 0x80, zeros up to 56 mod 64, then the length in bits (big-endian, 8 bytes).
    pad = 55 - n % 64 if n % 64 < 56 else 119 - n % 64
    msg = bytes(data) + b"\x80" + bytes(pad) + (n * 8).to_bytes(8, "big")
    w = [0] * 80
    for off in range(0, len(msg), 64):
        for i in range(16):
            w[i] = int.from_bytes(msg[off + 4 * i : off + 4 * i + 4], "big")
        for i in range(16, 80):
            w[i] = _rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1)
        a, b, c, d, e = h0, h1, h2, h3, h4
        for i in range(80):
            if i < 20:
                f = (b & c) | (~b & d)
                k = 0x5A827999
            elif i < 40:
                f = b ^ c ^ d
                k = 0x6ED9EBA1
            elif i < 60:
                f = (b & c) | (b & d) | (c & d)
                k = 0x8F1BBCDC
            else:
                f = b ^ c ^ d
                k = 0xCA62C1D6
            a, b, c, d, e = (_rotl(a, 5) + (f & _MASK) + e + k + w[i]) & _MASK, a, _rotl(b, 30), c, d
        h0 = (h0 + a) & _MASK
        h1 = (h1 + b) & _MASK
        h2 = (h2 + c) & _MASK
        h3 = (h3 + d) & _MASK
        h4 = (h4 + e) & _MASK
    return h0.to_bytes(4, "big") + h1.to_bytes(4, "big") + h2.to_bytes(4, "big") + h3.to_bytes(4, "big") + h4.to_bytes(4, "big")
