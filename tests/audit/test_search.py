"""GET /api/v1/workspaces/{ws}/audits (api.md, Audits; product.md §7): the items, newest
first, in the shape of the contract; each filter alone and combined; the refusals of a bad
filter, cursor or limit; who may search; and keyset pages that stay exact while new events
arrive. The seven events searched are those of tests/audit/timeline.py."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from botyard.audit.models import AuditEvent
from botyard.core import clock
from botyard.workspaces import services
from botyard.workspaces.roles import Role
from tests.audit.timeline import (
    LAST_MOMENT,
    MANAGER_EMAIL,
    NEWEST_FIRST,
    NEXT_MIDNIGHT,
    Timeline,
    build_timeline,
)
from tests.helpers import ApiClient, assert_problem
from tests.workspaces.world import World, assert_unchanged, db_snapshot

pytestmark = pytest.mark.django_db

Query = dict[str, Any]


@pytest.fixture
def timeline() -> Timeline:
    return build_timeline()


def url(workspace_id: str) -> str:
    return f"/api/v1/workspaces/{workspace_id}/audits"


def search(api_client: ApiClient, timeline: Timeline, query: Query | None = None) -> Any:
    return api_client.get(url(timeline.world.id), query, token=timeline.owner.token)


def found(api_client: ApiClient, timeline: Timeline, query: Query | None = None) -> list[int]:
    """The seqs of the events the search answers, in the order it answers them."""
    response = search(api_client, timeline, query)
    assert response.status_code == 200, response.content
    body = json.loads(response.content)
    assert body["next_cursor"] is None
    by_id = {e.id: seq for seq, e in timeline.events.items()}
    return [by_id[item["id"]] for item in body["items"]]


def cursor_of(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


# --- the items ---------------------------------------------------------------------------


def test_items_have_the_contract_shape_newest_first(
    api_client: ApiClient, timeline: Timeline
) -> None:
    response = search(api_client, timeline)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    body = json.loads(response.content)
    assert body.keys() == {"items", "next_cursor"}
    assert body["next_cursor"] is None
    assert [item["id"] for item in body["items"]] == timeline.ids(NEWEST_FIRST)
    owner, manager, world = timeline.owner, timeline.manager, timeline.world
    events = timeline.events
    assert body["items"][0] == {
        "id": events[7].id,
        "occurred_at": "2026-05-05T00:00:00Z",
        "actor_email": owner.email,
        "action": "removed",
        "target": {"type": "collaborator", "id": manager.id, "label": MANAGER_EMAIL},
        "event": "collaborator.removed",
        "details": {"role": "manager"},
        "ip": "203.0.113.7",
    }
    # Microseconds kept, as in the export and in the hash chain.
    assert body["items"][1] == {
        "id": events[6].id,
        "occurred_at": "2026-05-04T23:59:59.999999Z",
        "actor_email": MANAGER_EMAIL,
        "action": "published",
        "target": {"type": "bot", "id": timeline.bot_id, "label": "Helper"},
        "event": "bot.published",
        "details": {"version": 1},
        "ip": "203.0.113.7",
    }
    # The label is the one of the moment of the event, not today's name.
    assert body["items"][3]["target"] == {"type": "configuration", "id": world.id,
                                          "label": "Acme Corp"}  # fmt: skip
    assert body["items"][3]["details"] == {"before": "Acme", "after": "Acme Corp"}
    assert body["items"][6] == {
        "id": events[1].id,
        "occurred_at": "2026-05-03T09:00:00Z",
        "actor_email": owner.email,
        "action": "added",
        "target": {"type": "configuration", "id": world.id, "label": "Acme"},
        "event": "workspace.created",
        "details": {"name": "Acme", "plan": "community"},
        "ip": "203.0.113.7",
    }
    for item in body["items"]:
        assert item.keys() == {"id", "occurred_at", "actor_email", "action", "target",
                               "event", "details", "ip"}  # fmt: skip
        assert item["target"].keys() == {"type", "id", "label"}


def test_a_search_writes_nothing(api_client: ApiClient, timeline: Timeline) -> None:
    search(api_client, timeline)  # the token's first use
    before = db_snapshot()
    assert search(api_client, timeline, {"email": "mona"}).status_code == 200
    assert_unchanged(before)


def test_only_the_workspaces_own_events_are_listed(
    api_client: ApiClient, timeline: Timeline
) -> None:
    other = World(Role.OWNER, name="Other")
    services.workspace_rename(actor=other.owner.actor, workspace_id=other.id, name="Other 2")
    services.workspace_rename(
        actor=timeline.owner.actor, workspace_id=timeline.world.id, name="Acme 3"
    )

    body = json.loads(search(api_client, timeline).content)

    assert len(body["items"]) == 8
    assert {item["id"] for item in body["items"]} == set(
        AuditEvent.objects.filter(workspace_id=timeline.world.id).values_list("id", flat=True)
    )


# --- filters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "seqs"),
    [
        ("mona.manager@example.com", [6, 5, 3]),
        ("MONA.Manager", [6, 5, 3]),
        ("  mona  ", [6, 5, 3]),  # surrounding blanks are not part of the filter
        ("@EXAMPLE.COM", NEWEST_FIRST),
        ("nobody", []),
        ("%", []),  # LIKE wildcards are matched literally
        ("_", []),
        ("", NEWEST_FIRST),  # an empty filter is no filter
    ],
)
def test_email_is_a_case_insensitive_substring(
    api_client: ApiClient, timeline: Timeline, email: str, seqs: list[int]
) -> None:
    assert found(api_client, timeline, {"email": email}) == seqs


def test_email_matches_the_owner_by_part_of_the_address(
    api_client: ApiClient, timeline: Timeline
) -> None:
    local = timeline.owner.email.split("@")[0].upper()  # e.g. USER12
    assert found(api_client, timeline, {"email": local + "@"}) == [7, 4, 2, 1]


@pytest.mark.parametrize(
    ("actions", "seqs"),
    [
        (["added"], [5, 3, 2, 1]),
        (["added", "removed"], [7, 5, 3, 2, 1]),
        (["removed", "added"], [7, 5, 3, 2, 1]),
        (["added", "added"], [5, 3, 2, 1]),
        (["published"], [6]),
        (["updated", "published", "removed"], [7, 6, 4]),
        (["deleted"], []),
        (["downloaded"], []),
        (["added", "removed", "published", "updated", "deleted", "downloaded"], NEWEST_FIRST),
    ],
)
def test_action_is_repeatable(
    api_client: ApiClient, timeline: Timeline, actions: list[str], seqs: list[int]
) -> None:
    assert found(api_client, timeline, {"action": actions}) == seqs


def test_repeated_actions_are_read_from_the_query_string(
    api_client: ApiClient, timeline: Timeline
) -> None:
    response = api_client.get(
        url(timeline.world.id) + "?action=added&action=removed", token=timeline.owner.token
    )
    assert [i["action"] for i in json.loads(response.content)["items"]] == [
        "removed", "added", "added", "added", "added",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("target", "seqs"),
    [("bot", [6, 5]), ("collaborator", [7, 3, 2]), ("configuration", [4, 1])],
)
def test_target(api_client: ApiClient, timeline: Timeline, target: str, seqs: list[int]) -> None:
    assert found(api_client, timeline, {"target": target}) == seqs


@pytest.mark.parametrize(
    ("query", "seqs"),
    [
        # Dates are whole days, inclusive at both ends.
        ({"since": "2026-05-04"}, [7, 6, 5, 4]),
        ({"until": "2026-05-04"}, [6, 5, 4, 3, 2, 1]),
        ({"since": "2026-05-04", "until": "2026-05-04"}, [6, 5, 4]),
        ({"since": "2026-05-05"}, [7]),
        ({"until": "2026-05-03"}, [3, 2, 1]),
        ({"since": "2026-05-03", "until": "2026-05-05"}, NEWEST_FIRST),
        ({"since": "2026-05-06"}, []),
        ({"until": "2026-05-02"}, []),
        # Date-times are instants, inclusive at both ends.
        ({"since": "2026-05-04T12:00:00Z"}, [7, 6, 5]),
        ({"since": "2026-05-04T12:00:00.000001Z"}, [7, 6]),
        ({"until": "2026-05-04T12:00:00Z"}, [5, 4, 3, 2, 1]),
        ({"until": "2026-05-04T11:59:59.999999Z"}, [4, 3, 2, 1]),
        ({"until": "2026-05-04T23:59:59.999999Z"}, [6, 5, 4, 3, 2, 1]),
        ({"until": "2026-05-04T23:59:59.999998Z"}, [5, 4, 3, 2, 1]),
        ({"since": "2026-05-04T12:00:00Z", "until": "2026-05-04T12:00:00Z"}, [5]),
        ({"since": "2026-05-05T00:00:00Z"}, [7]),
        # Other offsets are converted; a time without one is UTC.
        ({"since": "2026-05-04T14:00:00+02:00"}, [7, 6, 5]),
        ({"until": "2026-05-04T07:00:00-05:00"}, [5, 4, 3, 2, 1]),
        ({"since": "2026-05-04T12:00:00"}, [7, 6, 5]),
        ({"since": "2026-05-04 12:00:00Z"}, [7, 6, 5]),
        # A date and a date-time together.
        ({"since": "2026-05-04T00:00:00.000001Z", "until": "2026-05-04"}, [6, 5]),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else "",
)
def test_since_and_until(
    api_client: ApiClient, timeline: Timeline, query: Query, seqs: list[int]
) -> None:
    assert found(api_client, timeline, query) == seqs


@pytest.mark.parametrize(
    ("query", "seqs"),
    [
        ({"email": "mona", "action": ["added", "published"], "target": "bot",
          "since": "2026-05-04", "until": "2026-05-04"}, [6, 5]),
        ({"email": "mona", "target": "collaborator"}, [3]),
        ({"email": "mona", "action": "removed"}, []),
        ({"action": ["added"], "target": "configuration", "until": "2026-05-03"}, [1]),
        ({"action": ["added", "removed"], "since": "2026-05-04"}, [7, 5]),
        ({"target": "bot", "until": "2026-05-04T12:00:00Z"}, [5]),
    ],
)  # fmt: skip
def test_filters_combine(
    api_client: ApiClient, timeline: Timeline, query: Query, seqs: list[int]
) -> None:
    assert found(api_client, timeline, query) == seqs


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ({"action": "erased"}, "invalid_filter", "action"),
        ({"action": ["added", "ADDED"]}, "invalid_filter", "action"),
        ({"target": "workspace"}, "invalid_filter", "target"),
        ({"target": "Bot"}, "invalid_filter", "target"),
        ({"email": "x" * 255}, "invalid_filter", "email"),
        ({"since": "2026-13-01"}, "invalid_date", "since"),
        ({"since": "2026-02-30"}, "invalid_date", "since"),
        ({"until": "yesterday"}, "invalid_date", "until"),
        ({"until": "2026-5-4"}, "invalid_date", "until"),
        ({"since": "20260504"}, "invalid_date", "since"),
        ({"since": "2026-W19-1"}, "invalid_date", "since"),
        ({"since": "2026-05-04T25:00:00Z"}, "invalid_date", "since"),
        ({"since": "2026-05-04T12:00:00+25:00"}, "invalid_date", "since"),
        ({"until": "9999-12-31"}, "invalid_date", "until"),  # no day after it to end at
        ({"until": "9999-12-31T23:59:59.999999Z"}, "invalid_date", "until"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "invalid_date", "since"),
        ({"since": "2026-05-05", "until": "2026-05-04"}, "invalid_date", "since"),
        ({"since": "2026-05-04T12:00:00.000001Z", "until": "2026-05-04T12:00:00Z"},
         "invalid_date", "since"),
    ],
    ids=lambda v: json.dumps(v)[:60] if isinstance(v, dict) else str(v),
)  # fmt: skip
def test_a_bad_filter_is_a_400(
    api_client: ApiClient, timeline: Timeline, query: Query, code: str, field: str
) -> None:
    search(api_client, timeline)  # the token's first use
    before = db_snapshot()

    body = assert_problem(search(api_client, timeline, query), 400, code)

    assert [e["field"] for e in body["errors"]] == [field]
    assert_unchanged(before)


# --- who may search ----------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMINISTRATOR, Role.OWNER])
def test_roles_with_audit_access_may_search(api_client: ApiClient, role: Role) -> None:
    world = World(role)
    response = api_client.get(url(world.id), token=world.caller.token)
    assert response.status_code == 200
    events = [item["event"] for item in json.loads(response.content)["items"]]
    expected = ["workspace.created"]
    if role is not Role.OWNER:
        expected = ["collaborator.joined", "collaborator.invited", *expected]
    assert events == expected


@pytest.mark.parametrize("role", [Role.VIEWER, Role.BILLING_MANAGER, Role.DEVELOPER])
def test_roles_without_audit_access_are_refused(api_client: ApiClient, role: Role) -> None:
    world = World(role)
    before = db_snapshot()

    body = assert_problem(
        api_client.get(url(world.id), {"email": "user"}, token=world.caller.token),
        403,
        "forbidden",
    )

    assert "collaborator.joined" not in json.dumps(body)
    assert_unchanged(before)


def test_non_members_get_a_404(api_client: ApiClient, timeline: Timeline) -> None:
    stranger = World(Role.OWNER, name="Elsewhere").owner
    assert_problem(
        api_client.get(url(timeline.world.id), token=stranger.token), 404, "workspace_not_found"
    )
    assert_problem(
        api_client.get(url("ws_0000000000doesnotexist00"), token=stranger.token),
        404,
        "workspace_not_found",
    )


def test_anonymous_callers_get_a_401(api_client: ApiClient, timeline: Timeline) -> None:
    assert_problem(api_client.get(url(timeline.world.id)), 401, "not_authenticated")


# --- pages -------------------------------------------------------------------------------


def pages(
    api_client: ApiClient, timeline: Timeline, query: Query, *, first_cursor: str | None = None
) -> list[list[int]]:
    """Every page from `first_cursor` (or the start) to the end, as lists of seqs."""
    by_id = {e.id: e.seq for e in AuditEvent.objects.filter(workspace_id=timeline.world.id)}
    result: list[list[int]] = []
    cursor = first_cursor
    while True:
        response = search(api_client, timeline, {**query, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.content
        body = json.loads(response.content)
        result.append([by_id[item["id"]] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return result
        assert len(result) < 20, "the pages do not end"


def test_pages_follow_each_other_without_duplicates_or_gaps(
    api_client: ApiClient, timeline: Timeline
) -> None:
    assert pages(api_client, timeline, {"limit": 2}) == [[7, 6], [5, 4], [3, 2], [1]]
    assert pages(api_client, timeline, {"limit": 7}) == [NEWEST_FIRST]
    assert pages(api_client, timeline, {"limit": 6}) == [[7, 6, 5, 4, 3, 2], [1]]
    assert pages(api_client, timeline, {"limit": 1}) == [[s] for s in NEWEST_FIRST]


def test_pages_keep_the_filters(api_client: ApiClient, timeline: Timeline) -> None:
    assert pages(api_client, timeline, {"limit": 2, "action": "added"}) == [[5, 3], [2, 1]]
    assert pages(api_client, timeline, {"limit": 1, "email": "mona", "since": "2026-05-04"}) == [
        [6], [5],
    ]  # fmt: skip


def test_pages_stay_exact_while_new_events_arrive(
    api_client: ApiClient, timeline: Timeline
) -> None:
    first = json.loads(search(api_client, timeline, {"limit": 2}).content)
    assert [item["id"] for item in first["items"]] == timeline.ids([7, 6])
    world = timeline.world
    with clock.frozen(NEXT_MIDNIGHT + dt.timedelta(hours=1)):
        for n in range(3):  # seq 8, 9, 10
            services.workspace_rename(
                actor=timeline.owner.actor, workspace_id=world.id, name=f"Acme {n}"
            )
            clock.advance(dt.timedelta(minutes=1))

    rest = pages(api_client, timeline, {"limit": 2}, first_cursor=first["next_cursor"])

    assert rest == [[5, 4], [3, 2], [1]]
    # The new events are on a fresh first page.
    assert pages(api_client, timeline, {"limit": 2})[0] == [10, 9]


def test_the_last_full_page_has_no_cursor(api_client: ApiClient, timeline: Timeline) -> None:
    body = json.loads(search(api_client, timeline, {"limit": 7}).content)
    assert (len(body["items"]), body["next_cursor"]) == (7, None)
    body = json.loads(search(api_client, timeline, {"limit": 200}).content)
    assert (len(body["items"]), body["next_cursor"]) == (7, None)


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!!",
        "%%%",
        "eyJ",
        cursor_of([]),
        cursor_of([3, 4]),
        cursor_of({"seq": 3}),
        cursor_of(["abc"]),  # the wrong type for seq
        cursor_of([None]),
        cursor_of([True]),
        cursor_of([[3]]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_garbage_cursor_is_a_400(api_client: ApiClient, timeline: Timeline, cursor: str) -> None:
    assert_problem(search(api_client, timeline, {"cursor": cursor}), 400, "invalid_cursor")


@pytest.mark.parametrize(
    ("limit", "code"),
    [("0", "invalid_limit"), ("201", "invalid_limit"), ("-1", "invalid_limit"),
     ("abc", "validation_error"), ("1.5", "validation_error")],
)  # fmt: skip
def test_a_limit_out_of_range_is_a_400(
    api_client: ApiClient, timeline: Timeline, limit: str, code: str
) -> None:
    body = assert_problem(search(api_client, timeline, {"limit": limit}), 400, code)
    assert [e["field"] for e in body["errors"]] == ["limit"]


def test_the_default_page_holds_50(api_client: ApiClient, timeline: Timeline) -> None:
    with clock.frozen(LAST_MOMENT + dt.timedelta(days=3)):
        for n in range(45):
            services.workspace_rename(
                actor=timeline.owner.actor, workspace_id=timeline.world.id, name=f"Acme {n}"
            )
    body = json.loads(search(api_client, timeline).content)
    assert len(body["items"]) == 50
    assert body["next_cursor"] is not None
    rest = json.loads(search(api_client, timeline, {"cursor": body["next_cursor"]}).content)
    assert [item["id"] for item in rest["items"]] == timeline.ids([2, 1])


def test_the_number_of_queries_does_not_grow_with_the_events(
    api_client: ApiClient, timeline: Timeline
) -> None:
    query = {"email": "example.com", "limit": 50}
    search(api_client, timeline, query)  # the token's first use
    with CaptureQueriesContext(connection) as few:
        assert len(json.loads(search(api_client, timeline, query).content)["items"]) == 7

    for n in range(30):
        services.workspace_rename(
            actor=timeline.owner.actor, workspace_id=timeline.world.id, name=f"Acme {n}"
        )
    with CaptureQueriesContext(connection) as many:
        assert len(json.loads(search(api_client, timeline, query).content)["items"]) == 37

    assert len(many.captured_queries) == len(few.captured_queries)
