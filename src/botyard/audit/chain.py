"""The per-workspace hash chain: hash_n = sha256(hash_{n-1} ‖ canonical content of event n)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.dateparse import parse_datetime

GENESIS = "0" * 64

HASHED_FIELDS = (
    "seq", "occurred_at", "actor_email", "action", "target_type", "target_id",
    "target_label", "event", "details", "ip",
)  # fmt: skip


# One encoder, built once: json.dumps(...) with these arguments builds an equal one per call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_encode_str = json.encoder.encode_basestring  # what _ENCODER writes for a str
_hashed_fields_of = operator.itemgetter(*HASHED_FIELDS)


def _canonical_time(value: dt.datetime) -> str:
    # Microsecond precision in UTC: what both SQLite and PostgreSQL store and give back.
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _reference_content(fields: tuple[Any, ...]) -> bytes:
    """The definition of the hashed content: canonical JSON of the hashed fields."""
    content = dict(zip(HASHED_FIELDS, fields, strict=True))
    content["occurred_at"] = _canonical_time(content["occurred_at"])
    return _ENCODER.encode(content).encode()


def content_of(values: dict[str, Any]) -> bytes:
    return content_of_fields(_hashed_fields_of(values))


# A time as verification reads it (audit.services._stored_chain): the canonical text
# itself, which PostgreSQL writes with to_char, or SQLite's stored text (naive UTC).
_CANONICAL_TIME = re.compile(r"[1-9]\d{3}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", re.ASCII)
_SQLITE_TIME = re.compile(r"[1-9]\d{3}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?", re.ASCII)


def _time_of_text(text: str) -> str | dt.datetime:
    """The canonical form of a stored time read as text, or the moment it names when the
    text is in neither form above (then the reference path formats it)."""
    if _CANONICAL_TIME.fullmatch(text):
        return text[:26]
    if _SQLITE_TIME.fullmatch(text):
        return f"{text[:10]}T{text[11:19]}{text[19:] or '.000000'}"
    moment = parse_datetime(text)
    if moment is None:
        raise ValueError(f"not a time: {text!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def content_of_fields(fields: Sequence[Any], *, stored: bool = False) -> bytes:
    """The hashed content of an event's HASHED_FIELDS values, in that order: byte for byte
    _reference_content(fields), written out directly for the usual types (verification
    runs this once per event); anything else takes the reference path. With `stored`,
    occurred_at may also be text and details JSON text, as verification reads them."""
    seq, moment, actor_email, action, target_type, target_id, target_label, event, details, ip = (
        fields
    )
    if stored:
        if type(details) is str:
            details = json.loads(details)
        if type(moment) is str:
            moment = _time_of_text(moment)
    when = None  # the canonical time without its "Z", once known
    if stored and type(moment) is str:  # what _time_of_text gave
        when = moment
    elif type(moment) is dt.datetime:
        utc = moment.astimezone(dt.UTC)
        if utc.year >= 1000:  # strftime writes earlier years without leading zeros
            # YYYY-MM-DDTHH:MM:SS.ffffff, before the "+00:00" that isoformat adds for UTC.
            when = utc.isoformat(timespec="microseconds")[:26]
    if not (
        when is not None
        and type(seq) is int
        and type(details) is dict
        and type(action) is str
        and type(actor_email) is str
        and type(event) is str
        and type(ip) is str
        and type(target_id) is str
        and type(target_label) is str
        and type(target_type) is str
    ):
        if stored and type(moment) is str:
            moment = dt.datetime.fromisoformat(moment + "+00:00")
        return _reference_content(
            (seq, moment, actor_email, action, target_type, target_id, target_label, event,
             details, ip)
        )  # fmt: skip
    encode = _encode_str
    # The keys in sorted order, as sort_keys writes them.
    return (
        f'{{"action":{encode(action)},"actor_email":{encode(actor_email)},'
        f'"details":{_ENCODER.encode(details)},"event":{encode(event)},"ip":{encode(ip)},'
        f'"occurred_at":"{when}Z","seq":{seq},"target_id":{encode(target_id)},'
        f'"target_label":{encode(target_label)},"target_type":{encode(target_type)}}}'
    ).encode()


def link_hash(prev_hash: str, values: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + content_of(values)).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_id: str | None = None
    first_bad_seq: int | None = None
    problem: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"ok: {self.checked} events, chain intact"
        if self.first_bad_id is None:  # not one event left to point at
            return f"broken: {self.problem}"
        return f"broken at event {self.first_bad_id} (seq {self.first_bad_seq}): {self.problem}"


ROW_FIELDS = ("id", "prev_hash", "hash", *HASHED_FIELDS)
_row_fields_of = operator.itemgetter(*ROW_FIELDS)


def verify_rows(rows: Iterable[dict[str, Any]], *, head_seq: int, head_hash: str) -> ChainReport:
    """`rows` in seq order, each with the hashed fields plus id, prev_hash and hash."""
    return verify_value_rows(map(_row_fields_of, rows), head_seq=head_seq, head_hash=head_hash)


def verify_value_rows(
    rows: Iterable[Sequence[Any]], *, head_seq: int, head_hash: str, stored: bool = False
) -> ChainReport:
    """`rows` in seq order, each the values of ROW_FIELDS in that order (values_list);
    with `stored`, times and details may be text (content_of_fields)."""
    expected_prev = GENESIS
    expected_seq = 1
    checked = 0
    last_id: str | None = None
    sha256 = hashlib.sha256
    for row in rows:
        event_id, prev_hash, digest, seq = row[0], row[1], row[2], row[3]
        if seq != expected_seq:
            problem = (
                f"event seq {expected_seq} is missing (removed)"
                if seq > expected_seq
                else "events are out of order"
            )
            return ChainReport(False, checked, event_id, seq, problem)
        if prev_hash != expected_prev:
            return ChainReport(
                False, checked, event_id, seq,
                "does not follow the previous event (removed or reordered)",
            )  # fmt: skip
        # link_hash(expected_prev, row), inlined: this loop runs once per event.
        try:
            content = content_of_fields(row[3:], stored=stored)
        except (ValueError, TypeError, OverflowError):  # stored text no writer produces
            return ChainReport(
                False, checked, event_id, seq, "content was altered after it was written"
            )
        if sha256(expected_prev.encode() + b"\n" + content).hexdigest() != digest:
            return ChainReport(
                False, checked, event_id, seq, "content was altered after it was written"
            )
        expected_prev = digest
        expected_seq += 1
        checked += 1
        last_id = event_id
    if checked != head_seq or expected_prev != head_hash:
        return ChainReport(
            False, checked, last_id, checked,
            f"the chain ends at seq {checked} but {head_seq} events were written "
            "(newest events removed)",
        )  # fmt: skip
    return ChainReport(True, checked)
