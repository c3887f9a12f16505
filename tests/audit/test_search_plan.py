"""audit_search turns each filter into what an index answers directly (a seq window for
dates, the actor directory for the email, one walk per address or action). Its pages must
be exactly those of the one plain keyset query, for every filter and every page, also when
the clock went backwards between events (audit_record then stamps the previous event's
time), and with the refusals of a bad limit or cursor unchanged."""

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
from botyard.audit.models import Action, AuditChainHead, AuditEvent, TargetType
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


# How the clock moves between events: mostly forward, sometimes back by a few minutes (an
# NTP correction, absorbed: the chain stays in time order) or, for "out of order", by
# hours (the chain is marked out of order, and dates are filtered by time).
CLOCK_STEPS = {
    "in order": [dt.timedelta(hours=h) for h in (1, 2, 3, 5)] + [dt.timedelta(minutes=-3)],
    "out of order": [dt.timedelta(hours=h) for h in (1, 2, 3, 5, 1, 2, 3, -5)],
}


@pytest.fixture(params=list(CLOCK_STEPS))
def access(request: pytest.FixtureRequest) -> Access:
    with clock.frozen(START - dt.timedelta(days=1)):  # its own events come first
        world = World(Role.OWNER, name="Acme")
    rng = random.Random(5)
    moment = START
    with transaction.atomic():
        for n in range(150):
            moment += rng.choice(CLOCK_STEPS[request.param])
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
    """Also with a single walk for several addresses (MAX_WALKS = 1), and pages of one."""
    for max_walks, limit in [(1, 6), (8, 6), (8, 50), (2, 1)]:
        monkeypatch.setattr(selectors, "MAX_WALKS", max_walks)
        for params in FILTERS:
            filters = parse_filters(**params)
            expected = pages(plain_search, access, filters, limit)
            assert pages(two_step, access, filters, limit) == expected, (params, max_walks)


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


@pytest.fixture
def hourly() -> Access:
    """48 events an hour apart from START, each address and action in turn."""
    with clock.frozen(START - dt.timedelta(days=1)):
        world = World(Role.OWNER, name="Hourly")
    with transaction.atomic():
        for n in range(48):
            with clock.frozen(START + dt.timedelta(hours=n)):
                audit_record(
                    workspace=world.workspace, actor=None, actor_email=EMAILS[n % len(EMAILS)],
                    action=list(Action)[n % len(Action)],
                    target_type=list(TargetType)[n % len(TargetType)], target_id=f"t{n}",
                    target_label=f"target {n}", event="test.event", details={},
                )  # fmt: skip
    return access_workspace(world.owner.user, world.id)


QUERIES = [
    ({}, 1),  # the page
    ({"actions": ["added"]}, 1),
    ({"target": "bot"}, 1),
    ({"email": "hopper"}, 2),  # the directory, the page
    ({"email": "nobody"}, 1),  # the directory only
    ({"since": "2026-01-02"}, 3),  # the chain's order, the window's start, the page
    ({"since": "2026-01-01T05:00:00Z", "until": "2026-01-01T20:00:00Z"}, 4),
    ({"since": "2030-01-01"}, 2),  # nothing after it: no page to read
    ({"actions": ["added", "removed"]}, 3),  # two walks, then their events
    ({"email": "example.com"}, 5),  # three addresses (the owner too): three walks, the events
    ({"email": "ada", "actions": ["added", "deleted"], "since": "2026-01-02"}, 4),
]


@pytest.mark.parametrize(("params", "expected"), QUERIES)
def test_a_page_takes_one_query_per_step(hourly: Access, params: Any, expected: int) -> None:
    filters = parse_filters(**params)
    with CaptureQueriesContext(connection) as queries:
        page = audit_search(access=hourly, filters=filters, cursor=None, limit=5)
    assert page.items or params in ({"email": "nobody"}, {"since": "2030-01-01"})
    assert len(queries.captured_queries) == expected, [q["sql"] for q in queries.captured_queries]


def test_the_chain_is_marked_in_or_out_of_order(access: Access) -> None:
    head = AuditChainHead.objects.get(workspace=access.workspace)
    times = list(
        AuditEvent.objects.filter(workspace=access.workspace)
        .order_by("seq")
        .values_list("occurred_at", flat=True)
    )
    in_order = times == sorted(times)
    assert (head.ordered_after == 0) == in_order
    if not in_order:  # the last event older than one before it
        last = max(n for n in range(1, len(times)) if times[n] < max(times[:n])) + 1
        assert head.ordered_after == last
