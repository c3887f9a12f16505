"""The reply engine: the best-matching intent's reply, else the fallback.

Matching is word overlap: an example scores |common words| / |words of the example|, and
an intent scores its best example. The best intent wins if it covers at least half of
an example's words; ties go to the intent listed first. Simple, deterministic, and easy
for an author to predict.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

THRESHOLD = 0.5
_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> frozenset[str]:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return frozenset(_WORD.findall(folded))


@dataclass(frozen=True)
class Matcher:
    """A definition with its examples split into words once: a published version is
    immutable, so the message path keeps one per version (messaging.services)."""

    intents: tuple[tuple[dict[str, Any], tuple[frozenset[str], ...]], ...]
    fallback: str

    def reply(self, text: str) -> tuple[str, str | None]:
        """Returns (reply, matched intent name or None)."""
        said = words(text)
        best_score, best_intent = 0.0, None
        for intent, examples in self.intents:
            for wanted in examples:
                score = len(said & wanted) / len(wanted)
                if score > best_score:
                    best_score, best_intent = score, intent
        if best_intent is not None and best_score >= THRESHOLD:
            return str(best_intent["reply"]), str(best_intent["name"])
        return self.fallback, None


def compile_definition(definition: dict[str, Any]) -> Matcher:
    intents = tuple(
        (intent, tuple(w for w in map(words, intent.get("examples", [])) if w))
        for intent in definition.get("intents", [])
    )
    return Matcher(intents, str(definition.get("fallback", "")))


def reply_to(definition: dict[str, Any], text: str) -> tuple[str, str | None]:
    """Returns (reply, matched intent name or None)."""
    return compile_definition(definition).reply(text)
