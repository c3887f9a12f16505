"""Opaque, prefixed, random ids (`ws_…`, `bot_…`).

The body is 48 bits of millisecond time then 80 random bits in Crockford base32, so new
rows land at the end of the primary-key index; clients must treat the id as opaque.
"""

from __future__ import annotations

import base64
import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
# RFC 4648's base32 digits, in value order, spelled in Crockford's alphabet: the C
# encoder does the arithmetic, one translation gives the digits (ids are made on every
# incoming message).
_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET)
_BODY_DIGITS = 26  # 10 for the time, 16 for the random bits: 130 bits


def _base32(value: int, length: int) -> str:
    """`value` as `length` base32 digits, most significant first."""
    chars = []
    for _ in range(length):
        value, rest = divmod(value, 32)
        chars.append(_ALPHABET[rest])
    return "".join(reversed(chars))


def _body(millis: int, random_bits: int) -> str:
    """_base32(millis, 10) + _base32(random_bits, 16), computed by base64.b32encode: the
    130 bits are left-aligned in 20 bytes (160 bits, 32 digits) and cut to 26 digits."""
    value = ((millis % (1 << 50)) << 80 | random_bits) << 30
    return base64.b32encode(value.to_bytes(20, "big")).decode()[:_BODY_DIGITS].translate(_CROCKFORD)


def new_id(prefix: str) -> str:
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{_body(millis, secrets.randbits(80))}"
