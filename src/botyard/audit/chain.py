"""The per-workspace hash chain: hash_n = sha256(hash_{n-1} ‖ canonical content of event n)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64

HASHED_FIELDS = (
    "seq", "occurred_at", "actor_email", "action", "target_type", "target_id",
    "target_label", "event", "details", "ip",
)  # fmt: skip


def _canonical_time(value: dt.datetime) -> str:
    # Microsecond precision in UTC: what both SQLite and PostgreSQL store and give back.
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content_of(values: dict[str, Any]) -> bytes:
    content = {name: values[name] for name in HASHED_FIELDS}
    content["occurred_at"] = _canonical_time(content["occurred_at"])
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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


def verify_rows(rows: Iterable[dict[str, Any]], *, head_seq: int, head_hash: str) -> ChainReport:
    """`rows` in seq order, each with the hashed fields plus id, prev_hash and hash."""
    expected_prev = GENESIS
    expected_seq = 1
    checked = 0
    last_id: str | None = None
    for row in rows:
        if row["seq"] != expected_seq:
            problem = (
                f"event seq {expected_seq} is missing (removed)"
                if row["seq"] > expected_seq
                else "events are out of order"
            )
            return ChainReport(False, checked, row["id"], row["seq"], problem)
        if row["prev_hash"] != expected_prev:
            return ChainReport(
                False, checked, row["id"], row["seq"],
                "does not follow the previous event (removed or reordered)",
            )  # fmt: skip
        if link_hash(expected_prev, row) != row["hash"]:
            return ChainReport(
                False, checked, row["id"], row["seq"], "content was altered after it was written"
            )
        expected_prev = row["hash"]
        expected_seq += 1
        checked += 1
        last_id = row["id"]
    if checked != head_seq or expected_prev != head_hash:
        return ChainReport(
            False, checked, last_id, checked,
            f"the chain ends at seq {checked} but {head_seq} events were written "
            "(newest events removed)",
        )  # fmt: skip
    return ChainReport(True, checked)
