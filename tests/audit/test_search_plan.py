"""audit_search finds a filtered page in one or two queries (the newest events first, then
if need be the matching keys from the audit_ws_filters index). Its pages must be exactly
those of the one plain keyset query, for every filter and every page, also when the clock
went backwards between events (seq and occurred_at out of step), and with the refusals of
a bad limit or cursor unchanged."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import random
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from botyard.audit import selectors
from botyard.audit.models import Action, AuditEvent, TargetType
from botyard.audit.selectors import AuditFilters, audit_queryset, audit_search, parse_filters
from botyard.audit.services import audit_record
from botyard.core import clock
from botyard.core.errors import ValidationFailed
from botyard.core.pagination import Page, paginate
from botyard.workspaces.access import Access, access_workspace
from botyard.workspaces.roles import Role
from tests.workspaces.world import World

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
EMAILS = ["ada@example.com", "Grace.Hopper@example.com", "alan@example.org", "system"]


def plain_search(
    access: Access, filters: AuditFilters, cursor: str | None, limit: int | None
) -> Page[AuditEvent]:
    """The search as one keyset query: the behaviour audit_search must keep."""
    return paginate(
        audit_queryset(access=access, filters=filters),
        order=("-seq",),
        cursor=cursor,
        limit=limit,
        datetime_fields=frozenset(),
    )


@pytest.fixture
def access() -> Access:
    world = World(Role.OWNER, name="Acme")
    rng = random.Random(5)
    moment = START
    with transaction.atomic():
        for n in range(150):
            # Mostly forward in time, sometimes back (a clock corrected by NTP).
            moment += dt.timedelta(hours=rng.choice([1, 2, 3, 5, -30]))
            with clock.frozen(moment):
                audit_record(
                    workspace=world.workspace,
                    actor=None,
                    actor_email=rng.choice(EMAILS),
                    action=rng.choice(list(Action)),
                    target_type=rng.choice(list(TargetType)),
                    target_id=f"t{n}",
                    target_label=f"target {n}",
                    event="test.event",
                    details={"n": n},
                )
    return access_workspace(world.owner.user, world.id)


FILTERS: list[dict[str, Any]] = [
    {},
    {"email": "hopper"},
    {"email": "EXAMPLE.COM"},
    {"email": "nobody"},
    {"actions": ["added"]},
    {"actions": ["added", "removed"]},
    {"target": "bot"},
    {"actions": ["updated"], "target": "collaborator"},
    {"since": "2026-01-05"},
    {"until": "2026-01-09"},
    {"since": "2026-01-04", "until": "2026-01-08"},
    {"since": "2026-01-06T05:00:00Z", "until": "2026-01-06T20:00:00Z"},
    {"since": "2030-01-01"},
    {"email": "ada", "actions": ["added", "deleted"], "since": "2026-01-03"},
    {"email": "example", "actions": ["published"], "target": "bot", "until": "2026-01-10"},
]


def pages(search: Any, access: Access, filters: AuditFilters, limit: int) -> list[list[int]]:
    found, cursor = [], None
    while True:
        page = search(access, filters, cursor, limit)
        found.append([event.seq for event in page.items])
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def two_step(access: Access, filters: AuditFilters, cursor: str | None, limit: int) -> Any:
    return audit_search(access=access, filters=filters, cursor=cursor, limit=limit)


def test_every_page_is_the_plain_querys_page(
    access: Access, monkeypatch: pytest.MonkeyPatch
) -> None:
    for scan_first, limit in [(1, 6), (7, 6), (7, 50), (1000, 50)]:
        monkeypatch.setattr(selectors, "SCAN_FIRST", scan_first)
        for params in FILTERS:
            filters = parse_filters(**params)
            expected = pages(plain_search, access, filters, limit)
            assert pages(two_step, access, filters, limit) == expected, (params, scan_first)


def encoded(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


ODD_CURSORS = [
    encoded([120]), encoded([0]), encoded([-3]), encoded([10**6]), encoded([120.0]),
    encoded([119.5]), encoded(["120"]), encoded([2**63]), encoded([True]), encoded([[1]]),
    encoded([1, 2]), "not a cursor", "",
]  # fmt: skip


def test_odd_cursors_and_limits_are_answered_as_before(access: Access) -> None:
    for params, cursor, limit in itertools.product(
        [{"email": "example"}, {"since": "2026-01-04"}], ODD_CURSORS, [None, 5, 0, 201]
    ):
        filters = parse_filters(**params)

        def outcome(search: Any, filters: AuditFilters = filters) -> Any:
            try:
                with transaction.atomic():
                    page = search(access, filters, cursor, limit)
            except ValidationFailed as error:
                return ("refused", error.code, str(error))
            except Exception as error:  # the same failure is the same behaviour
                return ("failed", type(error))
            return ([e.pk for e in page.items], page.next_cursor)

        assert outcome(two_step) == outcome(plain_search), (params, cursor, limit)


def test_a_filtered_page_takes_at_most_two_queries(access: Access) -> None:
    for params, limit in itertools.product(FILTERS, [1, 50]):
        filters = parse_filters(**params)
        with CaptureQueriesContext(connection) as queries:
            audit_search(access=access, filters=filters, cursor=None, limit=limit)
        assert len(queries.captured_queries) <= 2, params
