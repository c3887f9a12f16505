"""The hashed content is a definition that stored chains depend on: chain.content_of and
the verification loop must give, byte for byte, what the first definition gave (canonical
json.dumps of the hashed fields, the time as UTC microseconds), for any values."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zoneinfo
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botyard.audit import chain


def first_definition(values: dict[str, Any]) -> bytes:
    content = {name: values[name] for name in chain.HASHED_FIELDS}
    content["occurred_at"] = (
        content["occurred_at"].astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    )
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def outcome(function: Any, *args: Any) -> tuple[str, Any]:
    try:
        return ("value", function(*args))
    except Exception as error:  # the same failure is the same behaviour
        return ("error", type(error))


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
zones = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), zoneinfo.ZoneInfo("Europe/Zurich")]
)
moments = st.datetimes(timezones=zones) | st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=zones
)
text_or_other = st.text() | st.text(alphabet='"\\\n\t\x00\x1f\u2028é😀', max_size=8) | json_scalars

values_strategy = st.fixed_dictionaries(
    {
        "seq": st.integers(min_value=1) | st.booleans() | st.floats(),
        "occurred_at": moments,
        "actor_email": text_or_other,
        "action": text_or_other,
        "target_type": text_or_other,
        "target_id": text_or_other,
        "target_label": text_or_other,
        "event": text_or_other,
        "details": st.dictionaries(st.text(), json_values, max_size=5) | json_values,
        "ip": text_or_other,
    },
    optional={"id": st.text(), "hash": st.text()},
)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(values_strategy)
def test_content_is_the_first_definition_for_any_values(values: dict[str, Any]) -> None:
    assert outcome(chain.content_of, values) == outcome(first_definition, values)


@settings(max_examples=300)
@given(
    st.fixed_dictionaries(
        {
            "seq": st.integers(min_value=1, max_value=10**12),
            "occurred_at": st.datetimes(
                min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2040, 1, 1)
            ).map(lambda m: m.replace(tzinfo=dt.UTC)),
            "actor_email": st.emails(),
            "action": st.sampled_from(["added", "removed", "updated"]),
            "target_type": st.sampled_from(["bot", "collaborator", "configuration"]),
            "target_id": st.text(max_size=64),
            "target_label": st.text(max_size=256),
            "event": st.text(max_size=64),
            "details": st.dictionaries(st.text(), json_values, max_size=5),
            "ip": st.sampled_from(["", "203.0.113.7", "2001:db8::1"]),
        }
    )
)
def test_usual_events_take_the_written_out_path_and_match(values: dict[str, Any]) -> None:
    assert chain.content_of(values) == first_definition(values)
    expected = hashlib.sha256(b"0" * 64 + b"\n" + first_definition(values)).hexdigest()
    assert chain.link_hash("0" * 64, values) == expected


def test_a_missing_field_fails_as_before() -> None:
    values = {name: "x" for name in chain.HASHED_FIELDS if name != "action"}
    assert outcome(chain.content_of, values) == outcome(first_definition, values)


def chain_of(count: int) -> list[dict[str, Any]]:
    rows, prev = [], chain.GENESIS
    for seq in range(1, count + 1):
        values: dict[str, Any] = {
            "seq": seq,
            "occurred_at": dt.datetime(2026, 5, 4, 12, 0, seq, tzinfo=dt.UTC),
            "actor_email": "ada@example.com",
            "action": "updated",
            "target_type": "bot",
            "target_id": f"bot_{seq}",
            "target_label": "Support",
            "event": "bot.updated",
            "details": {"n": seq, "name": "Søren"},
            "ip": "",
        }
        digest = chain.link_hash(prev, values)
        rows.append({**values, "id": f"evt_{seq}", "prev_hash": prev, "hash": digest})
        prev = digest
    return rows


def test_dict_rows_and_value_rows_verify_alike() -> None:
    rows = chain_of(5)
    head = {"head_seq": 5, "head_hash": rows[-1]["hash"]}
    tuples = [tuple(row[name] for name in chain.ROW_FIELDS) for row in rows]
    assert chain.verify_rows(rows, **head) == chain.verify_value_rows(tuples, **head)
    assert chain.verify_rows(rows, **head).ok
    rows[2]["details"] = {"n": 99}
    tuples = [tuple(row[name] for name in chain.ROW_FIELDS) for row in rows]
    report = chain.verify_value_rows(tuples, **head)
    assert report == chain.verify_rows(rows, **head)
    assert (report.ok, report.first_bad_id, report.checked) == (False, "evt_3", 2)


# As verification reads a stored event: the time as text (PostgreSQL's to_char output or
# SQLite's stored naive-UTC text) and details as JSON text (json.dumps, as JSONField
# writes it).
def _stored_forms(moment: dt.datetime) -> list[str]:
    utc = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return [
        utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        str(utc),  # SQLite: "2026-12-03 15:17:39.000123", or without ".ffffff" at zero
    ]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    # From year 1000 in UTC (earlier years take the reference path, tested above).
    moment=st.datetimes(min_value=dt.datetime(1000, 1, 2), timezones=zones),
    details=st.dictionaries(st.text(), json_values, max_size=4),
    email=st.text(),
)
def test_the_stored_forms_give_the_same_content(
    moment: dt.datetime, details: dict[str, Any], email: str
) -> None:
    values = {
        "seq": 7, "occurred_at": moment, "actor_email": email, "action": "updated",
        "target_type": "bot", "target_id": "bot_1", "target_label": "Shop", "event": "e",
        "details": json.loads(json.dumps(details)), "ip": "203.0.113.9",
    }  # fmt: skip
    expected = first_definition(values)
    fields = [values[name] for name in chain.HASHED_FIELDS]
    at = chain.HASHED_FIELDS.index("occurred_at")
    for text in _stored_forms(moment):
        stored = list(fields)
        stored[at] = text
        stored[chain.HASHED_FIELDS.index("details")] = json.dumps(details)
        assert chain.content_of_fields(stored, stored=True) == expected, text


def test_a_stored_time_in_another_form_is_read_as_a_time() -> None:
    moment = dt.datetime(2026, 12, 3, 15, 17, 39, 123, tzinfo=dt.UTC)
    values = {name: "x" for name in chain.HASHED_FIELDS} | {
        "seq": 1, "occurred_at": moment, "details": {},
    }  # fmt: skip
    fields = [values[name] for name in chain.HASHED_FIELDS]
    at = chain.HASHED_FIELDS.index("occurred_at")
    for text in ["2026-12-03T15:17:39.000123+00:00", "2026-12-03 16:17:39.000123+01:00"]:
        stored = list(fields)
        stored[at] = text
        assert chain.content_of_fields(stored, stored=True) == first_definition(values)
    # Without `stored`, text is not a time: the reference path refuses it, as it always has.
    stored = list(fields)
    stored[at] = "2026-12-03 15:17:39.000123"
    assert outcome(chain.content_of_fields, stored) == ("error", AttributeError)
