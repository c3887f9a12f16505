"""Audit reads: search with filters (product.md §7), newest first, keyset pages."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import re
from dataclasses import dataclass, field

from django.db.models import QuerySet

from botyard.audit.models import Action, AuditActor, AuditChainHead, AuditEvent, TargetType
from botyard.core.errors import ValidationFailed
from botyard.core.pagination import Page, _decode, _encode, clean_limit, paginate
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
    """The page of matching events below the cursor, newest first.

    seq is unique per workspace and only grows, so "seq below the cursor" pages are stable
    while new events arrive: no duplicates, no gaps. Each filter is turned into what an
    index answers directly, so that a page costs about the same however rare the matches
    or deep the page: a date range into a window of seq (time never decreases along the
    chain), the email substring into the exact addresses of the actor directory, and a
    choice of several addresses or actions into one index walk per value, whose keys are
    merged. Answers are those of the one plain keyset query over audit_queryset."""
    events = audit_queryset(access=access, filters=filters)
    if not _paginate_accepts(cursor, limit):
        return _page(events, cursor, limit)  # and its refusal, as it always was
    size = clean_limit(limit)
    workspace_events = AuditEvent.objects.filter(workspace=access.workspace)
    window = _seq_window(access, workspace_events, filters)
    emails = _matching_actors(access, filters.email) if filters.email else None
    if window is None or emails == []:
        return Page(items=[], next_cursor=None)
    candidates = workspace_events
    low, high = window.low, window.high
    if window.by_time:
        if filters.since:
            candidates = candidates.filter(occurred_at__gte=filters.since)
        if filters.until:
            candidates = candidates.filter(occurred_at__lt=filters.until)
    if cursor:
        below = _decode(cursor, 1)[0]
        high = below - 1 if high is None else min(high, below - 1)
    if low is not None:
        candidates = candidates.filter(seq__gte=low)
    if high is not None:
        candidates = candidates.filter(seq__lte=high)
    if filters.target:
        candidates = candidates.filter(target_type=filters.target)
    # One walk per address or per action (the index gives each in seq order); the rest
    # of the filters apply within each walk.
    actions = tuple(dict.fromkeys(filters.actions))  # each walked once
    if emails is not None and len(emails) <= MAX_WALKS:
        if actions:
            candidates = candidates.filter(action__in=actions)
        walks = [candidates.filter(actor_email=email) for email in emails]
    else:
        if emails is not None:  # as a subquery: the addresses may be too many to list
            candidates = candidates.filter(
                actor_email__in=_actors_like(access, filters.email).values("email")
            )
        walks = [candidates.filter(action=action) for action in actions] or [candidates]
    if len(walks) == 1:
        rows = list(walks[0].order_by("-seq")[: size + 1])
    else:
        newest = heapq.nlargest(
            size + 1,
            itertools.chain.from_iterable(
                walk.order_by("-seq").values_list("seq", flat=True)[: size + 1] for walk in walks
            ),
        )
        rows = list(workspace_events.filter(seq__in=newest).order_by("-seq")) if newest else []
    if len(rows) <= size:
        return Page(items=rows, next_cursor=None)
    rows = rows[:size]
    return Page(items=rows, next_cursor=_encode([rows[-1].seq]))


# Up to this many matching addresses are walked one by one; more (a broad substring such
# as the company's domain) are matched in one walk of the newest events.
MAX_WALKS = 8


def _actors_like(access: Access, text: str) -> QuerySet[AuditActor]:
    """The workspace's actor addresses that contain `text`, as icontains compares."""
    return AuditActor.objects.filter(workspace=access.workspace, email__icontains=text)


def _matching_actors(access: Access, text: str) -> list[str]:
    """Up to MAX_WALKS + 1 of them: enough to tell whether to walk them one by one."""
    found = _actors_like(access, text).order_by("email").values_list("email", flat=True)
    return list(found[: MAX_WALKS + 1])


@dataclass(frozen=True)
class SeqWindow:
    low: int | None  # None: unbounded on that side
    high: int | None
    by_time: bool = False  # the chain is not in time order here: filter by occurred_at


def _seq_window(
    access: Access, events: QuerySet[AuditEvent], filters: AuditFilters
) -> SeqWindow | None:
    """The first and last seq within since/until, or None when no event is. Along a
    workspace's chain occurred_at never decreases after head.ordered_after (audit_record),
    so the events of a date range are exactly those between these two, found in
    audit_ws_time. A chain out of order (a clock set back far, before) is filtered by
    time instead: exact, without the window's speed."""
    if not (filters.since or filters.until):
        return SeqWindow(None, None)
    heads = AuditChainHead.objects.filter(workspace=access.workspace)
    if heads.values_list("ordered_after", flat=True).first():
        return SeqWindow(None, None, by_time=True)
    low = high = None
    if filters.since:
        low = (
            events.filter(occurred_at__gte=filters.since)
            .order_by("occurred_at", "seq")
            .values_list("seq", flat=True)
            .first()
        )
        if low is None:
            return None
    if filters.until:
        high = (
            events.filter(occurred_at__lt=filters.until)
            .order_by("-occurred_at", "-seq")
            .values_list("seq", flat=True)
            .first()
        )
        if high is None:
            return None
    if low is not None and high is not None and low > high:
        return None
    return SeqWindow(low, high)


def _page(events: QuerySet[AuditEvent], cursor: str | None, limit: int | None) -> Page[AuditEvent]:
    return paginate(
        events, order=("-seq",), cursor=cursor, limit=limit, datetime_fields=frozenset()
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
