"""The one rule for every name in botyard (product.md §2): 1 to 64 printable characters,
trimmed, not blank, no control characters."""

from __future__ import annotations

import unicodedata

from botyard.core.errors import ValidationFailed

MAX_NAME_LENGTH = 64


def clean_name(value: object, *, field: str = "name") -> str:
    if not isinstance(value, str):
        raise ValidationFailed.field(field, "Enter a name.")
    name = value.strip()
    if not name:
        raise ValidationFailed.field(field, "Enter a name; it cannot be blank.")
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationFailed.field(field, f"Use at most {MAX_NAME_LENGTH} characters.")
    if any(unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn"} for char in name):
        raise ValidationFailed.field(field, "Use printable characters only.")
    return name
