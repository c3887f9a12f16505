"""The bot definition document, format 1 (product.md §4):

    {"format": 1, "greeting": "...", "fallback": "...",
     "intents": [{"name": "...", "examples": ["...", ...], "reply": "..."}]}

Validated by hand rather than by a schema library so that each error names the exact
field (`definition.intents[2].examples[0]`) in words a bot author understands.
"""

from __future__ import annotations

import json
import re
from typing import Any

from botyard.core.errors import ValidationFailed

MAX_DEFINITION_BYTES = 256 * 1024
MAX_TEXT = 4_096
MAX_INTENTS = 500
MAX_EXAMPLES = 200
KNOWN_KEYS = frozenset({"format", "greeting", "fallback", "intents"})
INTENT_KEYS = frozenset({"name", "examples", "reply"})
# Text PostgreSQL cannot store (NUL) or UTF-8 cannot encode (unpaired surrogates, which a
# JSON body may carry as "\ud800" escapes).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "Must not contain NUL characters or unpaired surrogates."


def is_storable_text(value: str) -> bool:
    return _UNSTORABLE.search(value) is None


def empty_definition() -> dict[str, Any]:
    return {
        "format": 1,
        "greeting": "Hello! How can I help?",
        "fallback": "Sorry, I did not understand that.",
        "intents": [],
    }


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.items.append({"field": field, "message": message})


def _text(errors: _Errors, value: Any, field: str, *, required: bool = True) -> None:
    if not isinstance(value, str):
        errors.add(field, "Must be text.")
    elif required and not value.strip():
        errors.add(field, "Must not be empty.")
    elif len(value) > MAX_TEXT:
        errors.add(field, f"Use at most {MAX_TEXT} characters.")
    elif not is_storable_text(value):
        errors.add(field, UNSTORABLE_MESSAGE)


def validate_definition(document: Any, *, field: str = "definition") -> dict[str, Any]:
    """Return the document if valid; raise ValidationFailed(code=invalid_definition) listing
    every problem otherwise."""
    errors = _Errors()
    if not isinstance(document, dict):
        errors.add(field, "The definition must be a JSON object.")
        raise _invalid(errors)
    size = len(json.dumps(document, ensure_ascii=False).encode(errors="surrogatepass"))
    if size > MAX_DEFINITION_BYTES:
        errors.add(field, f"The definition is {size} bytes; the most is {MAX_DEFINITION_BYTES}.")
        raise _invalid(errors)
    version = document.get("format")
    if isinstance(version, bool) or version != 1:  # True == 1 in Python, not in JSON
        errors.add(f"{field}.format", 'Set "format": 1 (the only format this server reads).')
    for key in sorted(set(document) - KNOWN_KEYS):
        errors.add(f"{field}.{key}", "Unknown field.")
    _text(errors, document.get("greeting", ""), f"{field}.greeting", required=False)
    _text(errors, document.get("fallback"), f"{field}.fallback")
    intents = document.get("intents", [])
    if not isinstance(intents, list):
        errors.add(f"{field}.intents", "Must be a list of intents.")
        intents = []
    if len(intents) > MAX_INTENTS:
        errors.add(f"{field}.intents", f"Use at most {MAX_INTENTS} intents.")
    seen: set[str] = set()
    for i, intent in enumerate(intents[:MAX_INTENTS]):
        where = f"{field}.intents[{i}]"
        if not isinstance(intent, dict):
            errors.add(where, "Each intent must be an object with name, examples and reply.")
            continue
        for key in sorted(set(intent) - INTENT_KEYS):
            errors.add(f"{where}.{key}", "Unknown field.")
        name = intent.get("name")
        _text(errors, name, f"{where}.name")
        if isinstance(name, str) and name.strip():
            if name.strip().lower() in seen:
                errors.add(f"{where}.name", f"Another intent is already named {name!r}.")
            seen.add(name.strip().lower())
        _text(errors, intent.get("reply"), f"{where}.reply")
        examples = intent.get("examples")
        if not isinstance(examples, list) or not examples:
            errors.add(f"{where}.examples", "Give at least one example phrase.")
            continue
        if len(examples) > MAX_EXAMPLES:
            errors.add(f"{where}.examples", f"Use at most {MAX_EXAMPLES} examples.")
        for j, example in enumerate(examples[:MAX_EXAMPLES]):
            _text(errors, example, f"{where}.examples[{j}]")
    if errors.items:
        raise _invalid(errors)
    return document


def _invalid(errors: _Errors) -> ValidationFailed:
    count = len(errors.items)
    return ValidationFailed(
        f"The definition has {count} problem{'s' if count != 1 else ''}.",
        code="invalid_definition",
        errors=errors.items,
    )
