"""Opaque, prefixed, random ids (`ws_…`, `bot_…`).

The body is 48 bits of millisecond time then 80 random bits in Crockford base32, so new
rows land at the end of the primary-key index; clients must treat the id as opaque.
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _base32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rest = divmod(value, 32)
        chars.append(_ALPHABET[rest])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{_base32(millis, 10)}{_base32(secrets.randbits(80), 16)}"
