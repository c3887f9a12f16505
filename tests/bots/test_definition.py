"""The bot definition, format 1 (product.md §4): the validator names every problem by its
field, and the runtime answers with the best-matching intent's reply, else the fallback.
Both are pure functions, so these tests need no database."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botyard.bots.definition import (
    MAX_DEFINITION_BYTES,
    MAX_EXAMPLES,
    MAX_INTENTS,
    MAX_TEXT,
    empty_definition,
    validate_definition,
)
from botyard.bots.runtime import reply_to, words
from botyard.core.errors import ValidationFailed
from tests.workspaces.world import BOT_DEFINITION


def valid() -> dict[str, Any]:
    return copy.deepcopy(BOT_DEFINITION)


def problems(document: Any, **kwargs: Any) -> list[tuple[str, str]]:
    """(field, message) of every problem the validator reports."""
    with pytest.raises(ValidationFailed) as refused:
        validate_definition(document, **kwargs)
    error = refused.value
    assert (error.status, error.code) == (400, "invalid_definition")
    count = len(error.errors)
    assert error.detail == f"The definition has {count} problem{'s' if count != 1 else ''}."
    return [(e["field"], e["message"]) for e in error.errors]


def fields(document: Any, **kwargs: Any) -> list[str]:
    return [field for field, _ in problems(document, **kwargs)]


def size_of(document: dict[str, Any]) -> int:
    return len(json.dumps(document, ensure_ascii=False).encode())


# --- accepted documents ---------------------------------------------------------------


def test_a_valid_document_is_returned_as_it_is() -> None:
    document = valid()
    assert validate_definition(document) is document
    assert document == BOT_DEFINITION


def test_the_empty_definition_of_a_new_bot_is_valid() -> None:
    document = empty_definition()
    assert validate_definition(document) == {
        "format": 1,
        "greeting": "Hello! How can I help?",
        "fallback": "Sorry, I did not understand that.",
        "intents": [],
    }


def test_only_format_and_fallback_are_required() -> None:
    assert validate_definition({"format": 1, "fallback": "Pardon?"}) == {
        "format": 1,
        "fallback": "Pardon?",
    }


def test_the_greeting_may_be_empty_and_texts_may_hold_newlines_and_any_script() -> None:
    document = valid()
    document["greeting"] = ""
    document["intents"][0]["reply"] = "Line one\nline two\ttabbed — ünïcødé 你好 👋"
    assert validate_definition(document) is document


def test_texts_at_the_limits_are_accepted() -> None:
    document = valid()
    document["fallback"] = "f" * MAX_TEXT
    document["intents"] = [
        {"name": f"intent {i}", "examples": ["x"], "reply": "r"} for i in range(MAX_INTENTS)
    ]
    document["intents"][0]["examples"] = ["e"] * MAX_EXAMPLES
    assert validate_definition(document) is document


# --- the format -----------------------------------------------------------------------


FORMAT_MESSAGE = 'Set "format": 1 (the only format this server reads).'


@pytest.mark.parametrize("value", [2, 0, "1", None, True, [1], 1.5], ids=repr)
def test_format_must_be_1(value: Any) -> None:
    document = valid()
    document["format"] = value
    assert problems(document) == [("definition.format", FORMAT_MESSAGE)]


def test_a_missing_format_is_refused() -> None:
    document = valid()
    del document["format"]
    assert problems(document) == [("definition.format", FORMAT_MESSAGE)]


@pytest.mark.parametrize("document", [None, [], "text", 1, True, [valid()]], ids=repr)
def test_the_document_must_be_an_object(document: Any) -> None:
    assert problems(document) == [("definition", "The definition must be a JSON object.")]


def test_unknown_fields_are_named_at_the_top_and_in_intents() -> None:
    document = valid()
    document["colour"] = "blue"
    document["Format"] = 1
    document["intents"][1]["priority"] = 3
    assert problems(document) == [
        ("definition.Format", "Unknown field."),
        ("definition.colour", "Unknown field."),
        ("definition.intents[1].priority", "Unknown field."),
    ]


# --- texts ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [5, 1.0, None, True, ["reply"], {"text": "hi"}], ids=repr)
def test_non_text_values_are_refused_field_by_field(value: Any) -> None:
    document = valid()
    document["greeting"] = value
    document["fallback"] = value
    document["intents"][0]["name"] = value
    document["intents"][0]["reply"] = value
    document["intents"][1]["examples"] = ["prices", value]
    assert problems(document) == [
        ("definition.greeting", "Must be text."),
        ("definition.fallback", "Must be text."),
        ("definition.intents[0].name", "Must be text."),
        ("definition.intents[0].reply", "Must be text."),
        ("definition.intents[1].examples[1]", "Must be text."),
    ]


def test_a_missing_fallback_or_reply_or_name_is_refused() -> None:
    document = valid()
    del document["fallback"]
    del document["intents"][0]["reply"]
    del document["intents"][1]["name"]
    assert fields(document) == [
        "definition.fallback",
        "definition.intents[0].reply",
        "definition.intents[1].name",
    ]


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"], ids=repr)
def test_empty_names_replies_examples_and_fallback_are_refused(blank: str) -> None:
    document = valid()
    document["fallback"] = blank
    document["intents"][0]["name"] = blank
    document["intents"][0]["reply"] = blank
    document["intents"][1]["examples"] = [blank]
    assert problems(document) == [
        ("definition.fallback", "Must not be empty."),
        ("definition.intents[0].name", "Must not be empty."),
        ("definition.intents[0].reply", "Must not be empty."),
        ("definition.intents[1].examples[0]", "Must not be empty."),
    ]


def test_texts_longer_than_the_limit_are_refused() -> None:
    document = valid()
    document["greeting"] = "g" * (MAX_TEXT + 1)
    document["intents"][0]["examples"] = ["e" * (MAX_TEXT + 1)]
    assert problems(document) == [
        ("definition.greeting", f"Use at most {MAX_TEXT} characters."),
        ("definition.intents[0].examples[0]", f"Use at most {MAX_TEXT} characters."),
    ]


@pytest.mark.parametrize("text", ["nul\x00here", "lone \ud800 surrogate", "\udfff"], ids=repr)
def test_text_no_database_can_store_is_refused(text: str) -> None:
    # PostgreSQL's jsonb holds no NUL; UTF-8 encodes no unpaired surrogate.
    document = valid()
    document["fallback"] = text
    document["intents"][1]["examples"] = ["prices", text]
    message = "Must not contain NUL characters or unpaired surrogates."
    assert problems(document) == [
        ("definition.fallback", message),
        ("definition.intents[1].examples[1]", message),
    ]


# --- intents --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [{}, "hours", 3, None], ids=repr)
def test_intents_must_be_a_list(value: Any) -> None:
    document = valid()
    document["intents"] = value
    assert problems(document) == [("definition.intents", "Must be a list of intents.")]


@pytest.mark.parametrize("intent", ["hours", 1, None, ["hours"]], ids=repr)
def test_each_intent_must_be_an_object(intent: Any) -> None:
    document = valid()
    document["intents"].insert(1, intent)
    assert problems(document) == [
        ("definition.intents[1]", "Each intent must be an object with name, examples and reply.")
    ]


@pytest.mark.parametrize("examples", [[], None, "when are you open", {"0": "open"}, 3], ids=repr)
def test_examples_must_be_a_non_empty_list(examples: Any) -> None:
    document = valid()
    document["intents"][0]["examples"] = examples
    assert problems(document) == [
        ("definition.intents[0].examples", "Give at least one example phrase.")
    ]


def test_missing_examples_are_refused() -> None:
    document = valid()
    del document["intents"][1]["examples"]
    assert problems(document) == [
        ("definition.intents[1].examples", "Give at least one example phrase.")
    ]


@pytest.mark.parametrize("second", ["hours", "HOURS", "  Hours "], ids=repr)
def test_intent_names_are_unique_ignoring_case_and_spaces(second: str) -> None:
    document = valid()
    document["intents"][1]["name"] = second
    assert problems(document) == [
        ("definition.intents[1].name", f"Another intent is already named {second!r}.")
    ]


def test_too_many_intents_or_examples_are_refused() -> None:
    document = valid()
    document["intents"] = [
        {"name": f"i{n}", "examples": ["x"], "reply": "r"} for n in range(MAX_INTENTS + 1)
    ]
    document["intents"][0]["examples"] = ["x"] * (MAX_EXAMPLES + 1)
    assert problems(document) == [
        ("definition.intents", f"Use at most {MAX_INTENTS} intents."),
        ("definition.intents[0].examples", f"Use at most {MAX_EXAMPLES} examples."),
    ]


def test_every_problem_is_reported_at_once() -> None:
    document = {
        "format": 2,
        "fallback": "",
        "extra": True,
        "intents": [
            {"name": "a", "examples": [], "reply": "r"},
            {"name": "A", "examples": ["ok", 7], "reply": None},
        ],
    }
    assert problems(document) == [
        ("definition.format", FORMAT_MESSAGE),
        ("definition.extra", "Unknown field."),
        ("definition.fallback", "Must not be empty."),
        ("definition.intents[0].examples", "Give at least one example phrase."),
        ("definition.intents[1].name", "Another intent is already named 'A'."),
        ("definition.intents[1].reply", "Must be text."),
        ("definition.intents[1].examples[1]", "Must be text."),
    ]


def test_fields_are_named_under_the_prefix_given() -> None:
    # Import validates each version under its own place in the export document.
    document = valid()
    document["intents"][0]["reply"] = ""
    assert fields(document, field="bot.versions[2].definition") == [
        "bot.versions[2].definition.intents[0].reply"
    ]


# --- size -----------------------------------------------------------------------------


def of_size(target: int) -> dict[str, Any]:
    """A valid document of exactly `target` bytes (as JSON, UTF-8): examples of 2,000
    characters (2,004 bytes each in the list), then the fallback stretched to fit."""
    example = "e" * 2_000
    document: dict[str, Any] = {
        "format": 1,
        "fallback": "f",
        "intents": [{"name": "filler", "examples": ["x"], "reply": "r"}],
    }
    examples = document["intents"][0]["examples"]
    while size_of(document) + len(example) + 4 <= target - 10:
        examples.append(example)
    document["fallback"] += "f" * (target - size_of(document))
    assert size_of(document) == target
    return document


def test_a_document_of_exactly_256_kib_is_accepted() -> None:
    document = of_size(MAX_DEFINITION_BYTES)
    assert validate_definition(document) is document


def test_a_document_over_256_kib_is_refused_with_its_size() -> None:
    document = of_size(MAX_DEFINITION_BYTES + 1)
    assert problems(document) == [
        (
            "definition",
            f"The definition is {MAX_DEFINITION_BYTES + 1} bytes; "
            f"the most is {MAX_DEFINITION_BYTES}.",
        )
    ]


def test_size_counts_utf8_bytes_not_characters() -> None:
    document = of_size(MAX_DEFINITION_BYTES)
    document["fallback"] = "é" + document["fallback"][1:]  # as many characters, one byte more
    assert fields(document) == ["definition"]


# --- property: nothing but ValidationFailed, ever ---------------------------------------

# Any JSON value, strings included with NUL and unpaired surrogates (a JSON body may carry
# "\ud800"), numbers with NaN and infinities (Python's json reads them).
json_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | json_text
    | st.sampled_from(["", " ", "hours", "format", "\x00", "\ud800"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(json_text, inner, max_size=5),
    max_leaves=30,
)
# Near-misses: the right keys with arbitrary values, so the validator gets past its first
# checks and every branch is reached.
intents = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "name": json_values | json_text,
            "examples": st.lists(json_values | json_text, max_size=4) | json_values,
            "reply": json_values | json_text,
        },
    )
    | json_values,
    max_size=4,
)
near_misses = st.fixed_dictionaries(
    {},
    optional={
        "format": st.sampled_from([1, 1.0, True, 2, "1", None]),
        "greeting": json_values | json_text,
        "fallback": json_values | json_text,
        "intents": intents | json_values,
        "extra": json_values,
    },
)
messages = st.text(max_size=60)


def _check(document: Any, message: str) -> None:
    try:
        accepted = validate_definition(document)
    except ValidationFailed as error:
        assert (error.status, error.code) == (400, "invalid_definition")
        assert error.errors, "a refusal names at least one field"
        for item in error.errors:
            assert set(item) == {"field", "message"}
            assert item["field"].startswith("definition")
            assert item["message"]
        json.dumps(error.errors)  # the problem document can be written
        return
    # What is accepted can be stored (UTF-8, no NUL) and answered without error.
    assert accepted is document
    encoded = json.dumps(accepted, ensure_ascii=False).encode()
    assert b"\\u0000" not in encoded
    assert len(encoded) <= MAX_DEFINITION_BYTES
    reply, intent = reply_to(accepted, message)
    assert isinstance(reply, str)
    assert intent is None or intent in {i["name"] for i in accepted.get("intents", [])}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=json_values, message=messages)
def test_arbitrary_json_raises_nothing_but_validation_failed(document: Any, message: str) -> None:
    _check(document, message)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=near_misses, message=messages)
def test_near_miss_documents_raise_nothing_but_validation_failed(
    document: Any, message: str
) -> None:
    _check(document, message)


# --- the runtime ----------------------------------------------------------------------


def test_the_best_matching_intent_answers() -> None:
    definition = valid()
    assert reply_to(definition, "When are you open?") == (
        "We are open 9 to 5, Monday to Friday.",
        "hours",
    )
    assert reply_to(definition, "how much does it cost") == ("Plans start at $0.", "prices")


def test_the_intent_with_the_best_example_wins_over_a_weaker_one() -> None:
    definition = {
        "format": 1,
        "fallback": "?",
        "intents": [
            {"name": "open", "examples": ["are you open on sunday"], "reply": "Sundays: no."},
            {"name": "today", "examples": ["are you open today"], "reply": "Today: yes."},
        ],
    }
    # 4 of 4 words of the second example against 3 of 5 of the first.
    assert reply_to(definition, "are you open today") == ("Today: yes.", "today")


def test_the_fallback_answers_when_nothing_matches() -> None:
    definition = valid()
    assert reply_to(definition, "tell me a joke") == (BOT_DEFINITION["fallback"], None)
    assert reply_to(definition, "") == (BOT_DEFINITION["fallback"], None)
    assert reply_to(definition, "?!") == (BOT_DEFINITION["fallback"], None)


def test_a_weak_match_below_half_an_example_is_the_fallback() -> None:
    definition = {
        "format": 1,
        "fallback": "?",
        "intents": [{"name": "a", "examples": ["one two three"], "reply": "A"}],
    }
    assert reply_to(definition, "one") == ("?", None)  # 1/3
    assert reply_to(definition, "one two") == ("A", "a")  # 2/3


def test_exactly_half_an_example_matches() -> None:
    definition = {
        "format": 1,
        "fallback": "?",
        "intents": [{"name": "a", "examples": ["one two three four"], "reply": "A"}],
    }
    assert reply_to(definition, "two four") == ("A", "a")


def test_a_bot_without_intents_always_falls_back() -> None:
    assert reply_to(empty_definition(), "hello") == ("Sorry, I did not understand that.", None)


FULLWIDTH_OPENING = "".join(chr(ord(c) + 0xFEE0) for c in "opening")  # NFKC folds it back


@pytest.mark.parametrize(
    "said",
    ["OPENING HOURS", "Opening hours?!", "  opening...   HOURS  ", "hours, opening!",
     f"{FULLWIDTH_OPENING} hours"],
)  # fmt: skip
def test_matching_ignores_case_punctuation_spacing_and_order(said: str) -> None:
    assert reply_to(valid(), said)[1] == "hours"


def test_matching_folds_case_beyond_ascii() -> None:
    definition = {
        "format": 1,
        "fallback": "?",
        "intents": [{"name": "street", "examples": ["Straße"], "reply": "Here."}],
    }
    assert reply_to(definition, "STRASSE") == ("Here.", "street")


def test_ties_go_to_the_first_intent() -> None:
    first = {"name": "first", "examples": ["hello there"], "reply": "First."}
    second = {"name": "second", "examples": ["hello there"], "reply": "Second."}
    definition = {"format": 1, "fallback": "?", "intents": [first, second]}
    assert reply_to(definition, "hello there") == ("First.", "first")
    definition["intents"] = [second, first]
    assert reply_to(definition, "hello there") == ("Second.", "second")


def test_ties_between_equally_good_examples_go_to_the_first_intent() -> None:
    definition = {
        "format": 1,
        "fallback": "?",
        "intents": [
            {"name": "greet", "examples": ["hi"], "reply": "Hi!"},
            {"name": "bye", "examples": ["bye"], "reply": "Bye!"},
        ],
    }
    assert reply_to(definition, "hi and bye") == ("Hi!", "greet")


def test_an_example_of_only_punctuation_never_matches() -> None:
    definition = {
        "format": 1,
        "fallback": "?",
        "intents": [{"name": "dots", "examples": ["..."], "reply": "Dots."}],
    }
    assert validate_definition(definition) is definition
    assert reply_to(definition, "...") == ("?", None)


def _reply_by_walking(definition: dict[str, Any], text: str) -> tuple[str, str | None]:
    """The matching rule as runtime's docstring states it, example by example in order."""
    said = words(text)
    best_score, best = 0.0, None
    for intent in definition["intents"]:
        for example in intent["examples"]:
            wanted = words(example)
            if wanted and len(said & wanted) / len(wanted) > best_score:
                best_score, best = len(said & wanted) / len(wanted), intent
    if best is not None and best_score >= 0.5:
        return best["reply"], best["name"]
    return definition["fallback"], None


_vocabulary = st.sampled_from(["open", "you", "are", "today", "price", "how", "much", "Open", ""])
_phrases = st.lists(_vocabulary, max_size=6).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(
    examples=st.lists(st.lists(_phrases, min_size=1, max_size=3), min_size=1, max_size=6),
    text=_phrases,
)
def test_the_indexed_matcher_answers_as_the_rule_says(examples: list[list[str]], text: str) -> None:
    definition = {
        "format": 1,
        "fallback": "?",
        "intents": [
            {"name": f"i{n}", "examples": phrases, "reply": f"reply {n}"}
            for n, phrases in enumerate(examples)
        ],
    }
    assert reply_to(definition, text) == _reply_by_walking(definition, text)
