"""Audit reads: search with filters (product.md §7), newest first, keyset pages."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.db.models import BigIntegerField, ExpressionWrapper, F, QuerySet, Subquery
from django.db.models.functions import Coalesce

from botyard.audit.models import Action, AuditEvent, TargetType
from botyard.core.errors import ValidationFailed
from botyard.core.pagination import Page, _decode, clean_limit, paginate
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
    events = audit_queryset(access=access, filters=filters)
    if _served_by_one_index(filters) or not _paginate_accepts(cursor, limit):
        return _page(events, cursor, limit)
    # In seq order the newest matches come first, but a date range in the past or a rare
    # email may lie behind most of the workspace. So first the matches among the
    # SCAN_FIRST newest events below the cursor: enough for a page unless the filter is
    # rare there, which a next cursor shows.
    newest = AuditEvent.objects.filter(workspace=access.workspace)
    if cursor:
        below_seq = _decode(cursor, 1)[0]
        events = events.filter(seq__lt=below_seq)
        newest = newest.filter(seq__lt=below_seq)
    last_scanned = newest.order_by("-seq").values("seq")[SCAN_FIRST - 1 : SCAN_FIRST]
    first_scan = Coalesce(Subquery(last_scanned), 0, output_field=BigIntegerField())
    page = _page(events.filter(seq__gte=first_scan), cursor, limit)
    if page.next_cursor is not None:
        return page
    # Else the keys of the page's events (and of the one after it, as paginate wants)
    # from the audit_ws_filters index, which holds every filtered column: read without
    # touching the table, and sorted. seq + 0 keeps the database from walking an index
    # in seq order instead, which is the slow way here.
    keys = events.order_by(
        ExpressionWrapper(F("seq") + 0, output_field=BigIntegerField()).desc()
    ).values("seq")[: clean_limit(limit) + 1]
    return _page(
        AuditEvent.objects.filter(workspace=access.workspace, seq__in=Subquery(keys)),
        cursor,
        limit,
    )


def _page(events: QuerySet[AuditEvent], cursor: str | None, limit: int | None) -> Page[AuditEvent]:
    return paginate(
        events, order=("-seq",), cursor=cursor, limit=limit, datetime_fields=frozenset()
    )


# How many of the newest events below the cursor a filtered search reads in seq order
# before it looks the matching keys up in the audit_ws_filters index instead.
SCAN_FIRST = 1000


def _served_by_one_index(filters: AuditFilters) -> bool:
    """No filter, one action or the target type alone: an index in (workspace, that,
    seq) order hands over the page directly, however rare the value."""
    return not (filters.email or filters.since or filters.until) and (
        len(filters.actions) + bool(filters.target) <= 1
    )


def _paginate_accepts(cursor: str | None, limit: int | None) -> bool:
    """A limit paginate accepts and no cursor or one of a plain seq: else paginate alone
    answers, as it always has (with its refusal, for one)."""
    try:
        clean_limit(limit)
        values = _decode(cursor, 1) if cursor else [0]
    except ValidationFailed:
        return False
    return type(values[0]) is int and 0 <= values[0] < 2**63


def audit_page(*, access: Access, cursor: str | None, limit: int | None) -> Page[AuditEvent]:
    return audit_search(access=access, filters=AuditFilters(), cursor=cursor, limit=limit)
