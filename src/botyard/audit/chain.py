"""The per-workspace hash chain: hash_n = sha256(hash_{n-1} ‖ canonical content of event n)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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


def content_of_fields(fields: tuple[Any, ...]) -> bytes:
    """The hashed content of an event's HASHED_FIELDS values, in that order: byte for byte
    _reference_content(fields), written out directly for the usual types (verification
    runs this once per event); anything else takes the reference path."""
    seq, moment, actor_email, action, target_type, target_id, target_label, event, details, ip = (
        fields
    )
    strings = (action, actor_email, event, ip, target_id, target_label, target_type)
    if (
        type(seq) is not int
        or type(moment) is not dt.datetime
        or type(details) is not dict
        or any(type(s) is not str for s in strings)
    ):
        return _reference_content(fields)
    utc = moment.astimezone(dt.UTC)
    if utc.year < 1000:  # strftime writes such years without leading zeros
        return _reference_content(fields)
    action, actor_email, event, ip, target_id, target_label, target_type = map(_encode_str, strings)
    # The keys in sorted order, as sort_keys writes them.
    return (
        f'{{"action":{action},"actor_email":{actor_email},'
        f'"details":{_ENCODER.encode(details)},"event":{event},"ip":{ip},'
        f'"occurred_at":"{utc.replace(tzinfo=None).isoformat(timespec="microseconds")}Z",'
        f'"seq":{seq},"target_id":{target_id},"target_label":{target_label},'
        f'"target_type":{target_type}}}'
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
    rows: Iterable[Sequence[Any]], *, head_seq: int, head_hash: str
) -> ChainReport:
    """`rows` in seq order, each the values of ROW_FIELDS in that order (values_list)."""
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
        content = content_of_fields(tuple(row[3:]))
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
