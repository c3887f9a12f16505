"""Keyset (cursor) pagination: stable while rows are added, and as fast on page 1,000 as on
page 1, because each page starts from the last key seen rather than from an offset."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import Model, Q, QuerySet

from botyard.core.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    next_cursor: str | None


def clean_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed.field(
            "limit", f"limit must be between 1 and {MAX_LIMIT}.", code="invalid_limit"
        )
    return limit


def _encode(values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, dt.datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed.field(
        "cursor", "The cursor is not one this server issued.", code="invalid_cursor"
    )


def _is_key_value(value: Any) -> bool:
    # What _encode writes: strings (never with a NUL, which PostgreSQL text cannot hold)
    # and finite numbers; None, lists, objects and Infinity (which json reads, also for
    # 1e400) would reach the query and fail there.
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def _decode(cursor: str, count: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError, TypeError):
        raise _invalid_cursor() from None
    if not isinstance(values, list) or len(values) != count:
        raise _invalid_cursor()
    if not all(_is_key_value(v) for v in values):
        raise _invalid_cursor()
    return values


def _parse_datetime(value: Any) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("the server issues aware times only")
    return parsed


def paginate(
    queryset: QuerySet[M],
    *,
    order: tuple[str, ...],
    cursor: str | None,
    limit: int | None,
    datetime_fields: frozenset[str] = frozenset({"created_at"}),
) -> Page[M]:
    """`order` names the sort key, e.g. ("-created_at", "-id"); its last field is unique."""
    size = clean_limit(limit)
    queryset = queryset.order_by(*order)
    fields = [name.lstrip("-") for name in order]
    if cursor:
        values = _decode(cursor, len(fields))
        try:
            parsed = [
                _parse_datetime(v) if f in datetime_fields else v
                for f, v in zip(fields, values, strict=True)
            ]
        except (TypeError, ValueError):
            raise _invalid_cursor() from None
        after = Q()
        for i, name in enumerate(order):
            lookup = "lt" if name.startswith("-") else "gt"
            step = Q(**{f"{fields[i]}__{lookup}": parsed[i]})
            for j in range(i):
                step &= Q(**{fields[j]: parsed[j]})
            after |= step
        try:  # a forged key of the wrong type (["abc"] for an integer field) fails here
            queryset = queryset.filter(after)
        except (TypeError, ValueError):
            raise _invalid_cursor() from None
    rows = list(queryset[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = _encode([getattr(last, f) for f in fields])
    return Page(items=rows, next_cursor=next_cursor)
