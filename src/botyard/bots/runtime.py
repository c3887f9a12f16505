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
    """A definition with its examples split into words once, and each word's examples
    indexed: a published version is immutable, so the message path keeps one per
    version (messaging.services)."""

    # (reply, intent name, number of words) of each example, in the definition's order.
    examples: tuple[tuple[str, str, int], ...]
    # word -> the positions in `examples` of the examples holding it.
    holding: dict[str, tuple[int, ...]]
    fallback: str

    def reply(self, text: str) -> tuple[str, str | None]:
        """Returns (reply, matched intent name or None)."""
        common: dict[int, int] = {}
        for word in words(text):
            for position in self.holding.get(word, ()):
                common[position] = common.get(position, 0) + 1
        # An example sharing no word scores 0, which never wins; among equal scores the
        # example listed first does, as in a walk through the definition in order.
        best_score, best = 0.0, -1
        for position in sorted(common):
            score = common[position] / self.examples[position][2]
            if score > best_score:
                best_score, best = score, position
        if best >= 0 and best_score >= THRESHOLD:
            reply, name, _size = self.examples[best]
            return reply, name
        return self.fallback, None


def compile_definition(definition: dict[str, Any]) -> Matcher:
    examples: list[tuple[str, str, int]] = []
    holding: dict[str, list[int]] = {}
    for intent in definition.get("intents", []):
        for example in intent.get("examples", []):
            wanted = words(example)
            if not wanted:
                continue
            for word in wanted:
                holding.setdefault(word, []).append(len(examples))
            examples.append((str(intent["reply"]), str(intent["name"]), len(wanted)))
    return Matcher(
        tuple(examples),
        {word: tuple(positions) for word, positions in holding.items()},
        str(definition.get("fallback", "")),
    )


def reply_to(definition: dict[str, Any], text: str) -> tuple[str, str | None]:
    """Returns (reply, matched intent name or None)."""
    return compile_definition(definition).reply(text)
