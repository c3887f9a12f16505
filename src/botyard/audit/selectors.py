"""Audit reads: search with filters (product.md §7), newest first, keyset pages."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.db.models import QuerySet

from botyard.audit.models import Action, AuditEvent, TargetType
from botyard.core.errors import ValidationFailed
from botyard.core.pagination import Page, paginate
from botyard.workspaces.access import Access, require
from botyard.workspaces.roles import Permission

MAX_EMAIL_FILTER = 254
# What the API contract calls a date (YYYY-MM-DD) and the start of a date-time; Python's
# fromisoformat alone also takes 20260504 or 2026-W18-1, and gives them other meanings.
DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
DATE_TIME_START = re.compile(r"\d{4}-\d{2}-\d{2}[T ]", re.ASCII)
ONE_MICROSECOND = dt.timedelta(microseconds=1)
MIDNIGHT = dt.time()


def _rfc3339(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class AuditFilters:
    email: str = ""
    actions: tuple[str, ...] = field(default_factory=tuple)
    target: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None  # exclusive

    def as_query(self) -> list[tuple[str, str]]:
        """The filters as query parameters, to carry them into links (export, next page)."""
        # Written so that parse_filters reads them back to the same bounds: `until` is
        # kept exclusive here but is inclusive in a query.
        pairs = [("email", self.email)] if self.email else []
        pairs += [("action", a) for a in self.actions]
        if self.target:
            pairs.append(("target", self.target))
        if self.since:
            since = self.since
            pairs.append(
                ("since", since.date().isoformat() if since.time() == MIDNIGHT else _rfc3339(since))
            )
        if self.until:
            last = self.until - ONE_MICROSECOND
            pairs.append(
                ("until", last.date().isoformat())
                if self.until.time() == MIDNIGHT
                else ("until", _rfc3339(last))
            )
        return pairs


def _moment(value: str, field_name: str, *, end_of_day: bool) -> dt.datetime:
    text = value.strip()
    try:
        if DATE.fullmatch(text):  # a date: whole days, inclusive at both ends
            day = dt.date.fromisoformat(text)
            start = dt.datetime.combine(day, MIDNIGHT, tzinfo=dt.UTC)
            return start + dt.timedelta(days=1) if end_of_day else start
        if not DATE_TIME_START.match(text):
            raise ValueError(text)
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        # A date-time is inclusive: the first moment after it is the exclusive bound.
        return moment.astimezone(dt.UTC) + (ONE_MICROSECOND if end_of_day else dt.timedelta())
    except (ValueError, OverflowError):  # OverflowError: beyond year 1 or 9999 in UTC
        raise ValidationFailed.field(
            field_name,
            "Use a date (2026-12-03) or a date-time (2026-12-03T15:17:39Z).",
            code="invalid_date",
        ) from None


def parse_filters(
    *,
    email: str | None = None,
    actions: list[str] | None = None,
    target: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> AuditFilters:
    chosen = tuple(dict.fromkeys(a for a in (actions or []) if a))
    unknown = [a for a in chosen if a not in Action.values]
    if unknown:
        raise ValidationFailed.field(
            "action",
            f"Unknown action {unknown[0]!r}; use one of {', '.join(Action.values)}.",
            code="invalid_filter",
        )
    if target and target not in TargetType.values:
        raise ValidationFailed.field(
            "target",
            f"Unknown target {target!r}; use one of {', '.join(TargetType.values)}.",
            code="invalid_filter",
        )
    text = (email or "").strip()
    if len(text) > MAX_EMAIL_FILTER:
        raise ValidationFailed.field(
            "email", "The email filter is too long.", code="invalid_filter"
        )
    if "\x00" in text:  # PostgreSQL cannot compare text with a NUL (the dashboard sends it on)
        raise ValidationFailed.field(
            "email", "The email filter holds a NUL character.", code="invalid_filter"
        )
    start = _moment(since, "since", end_of_day=False) if since else None
    end = _moment(until, "until", end_of_day=True) if until else None
    if start and end and start >= end:
        raise ValidationFailed.field("since", "since must be before until.", code="invalid_date")
    return AuditFilters(text, chosen, target or "", start, end)


def audit_queryset(*, access: Access, filters: AuditFilters) -> QuerySet[AuditEvent]:
    require(access, Permission.AUDIT_VIEW)
    events = AuditEvent.objects.filter(workspace=access.workspace)
    if filters.email:
        events = events.filter(actor_email__icontains=filters.email)
    if filters.actions:
        events = events.filter(action__in=filters.actions)
    if filters.target:
        events = events.filter(target_type=filters.target)
    if filters.since:
        events = events.filter(occurred_at__gte=filters.since)
    if filters.until:
        events = events.filter(occurred_at__lt=filters.until)
    return events


def audit_search(
    *, access: Access, filters: AuditFilters, cursor: str | None, limit: int | None
) -> Page[AuditEvent]:
    # seq is unique per workspace and only grows, so "seq below the cursor" pages are
    # stable while new events arrive: no duplicates, no gaps.
    return paginate(
        audit_queryset(access=access, filters=filters),
        order=("-seq",),
        cursor=cursor,
        limit=limit,
        datetime_fields=frozenset(),
    )


def audit_page(*, access: Access, cursor: str | None, limit: int | None) -> Page[AuditEvent]:
    return audit_search(access=access, filters=AuditFilters(), cursor=cursor, limit=limit)
