"""The dashboard's Audits tab (product.md §7, §8): the records newest first with the filters
of the query string, the htmx rows partial and its "Older records" link, the export links,
the chain check, and the friendly refusal for roles without audit access. The events are
those of tests/audit/timeline.py."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from botyard.audit.models import AuditEvent
from botyard.core import clock
from botyard.web import audit_pages
from botyard.workspaces import services
from botyard.workspaces.roles import Role
from tests.audit.timeline import NEWEST_FIRST, Timeline, build_timeline
from tests.workspaces.world import AUDIT_TABLES, World, assert_unchanged, db_snapshot

pytestmark = pytest.mark.django_db

DATE_ERROR = "Use a date (2026-12-03) or a date-time (2026-12-03T15:17:39Z)."
EXPORTED_AT = dt.datetime(2026, 5, 6, 8, 30, tzinfo=dt.UTC)

Query = dict[str, Any]


@pytest.fixture
def timeline() -> Timeline:
    return build_timeline()


@pytest.fixture
def owner_client(client: Client, timeline: Timeline) -> Client:
    client.force_login(timeline.owner.user)
    return client


def page_url(workspace_id: str, suffix: str = "") -> str:
    return f"/w/{workspace_id}/audits{suffix}"


def text(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return str(response.content.decode())


def table_rows(markup: str) -> list[list[str]]:
    """The record rows (not the "Older records" row), each as its cells' text."""
    rows = []
    for row in re.findall(r"<tr(?: [^>]*)?>(.*?)</tr>", markup, flags=re.S):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        ]
        if len(cells) == 7:
            rows.append(cells)
    return rows


def events_shown(markup: str) -> list[str]:
    return [row[4] for row in table_rows(markup)]


def seqs_shown(markup: str, timeline: Timeline) -> list[int]:
    """The rows as seqs, told apart by their time, event and target."""
    key = {
        (f"{e.occurred_at:%Y-%m-%d %H:%M:%S}", e.event, f"{e.target_type}: {e.target_label}"): seq
        for seq, e in timeline.events.items()
    }
    return [key[(row[0], row[4], row[3])] for row in table_rows(markup)]


def link(markup: str, label: str) -> str:
    found = re.search(rf'<a [^>]*href="([^"]*)"[^>]*>{re.escape(label)}</a>', markup)
    assert found, f"no {label!r} link"
    return html.unescape(found.group(1))


def older_link(markup: str) -> str | None:
    found = re.search(r'<tr id="more-row">.*?<a [^>]*href="([^"]*)"', markup, flags=re.S)
    return html.unescape(found.group(1)) if found else None


def nav(markup: str) -> str:
    found = re.search(r'<nav class="nav" aria-label="Workspace tabs">(.*?)</nav>', markup, re.S)
    assert found
    return found.group(1)


# --- the list ----------------------------------------------------------------------------


def test_the_tab_lists_the_records_newest_first(owner_client: Client, timeline: Timeline) -> None:
    markup = text(owner_client.get(page_url(timeline.world.id)))

    assert "<html" in markup
    assert seqs_shown(markup, timeline) == NEWEST_FIRST
    rows = table_rows(markup)
    assert rows[0] == [
        "2026-05-05 00:00:00", timeline.owner.email, "removed",
        f"collaborator: {timeline.manager.email}", "collaborator.removed", "role: manager",
        "203.0.113.7",
    ]  # fmt: skip
    assert rows[1][:5] == [
        "2026-05-04 23:59:59", timeline.manager.email, "published", "bot: Helper",
        "bot.published",
    ]  # fmt: skip
    # (PostgreSQL's jsonb keeps the keys in its own order.)
    assert sorted(rows[3][5].split("; ")) == ["after: Acme Corp", "before: Acme"]
    assert f'href="{page_url(timeline.world.id)}" aria-current="page">Audits</a>' in nav(markup)
    assert older_link(markup) is None  # seven records fit on one page


def test_a_workspace_without_matches_says_so(owner_client: Client, timeline: Timeline) -> None:
    markup = text(owner_client.get(page_url(timeline.world.id), {"email": "nobody"}))
    assert table_rows(markup) == []
    assert "No audit records match." in markup
    assert "Try fewer filters." in markup


@pytest.mark.parametrize(
    ("query", "seqs"),
    [
        ({"email": "MONA"}, [6, 5, 3]),
        ({"action": ["added", "removed"]}, [7, 5, 3, 2, 1]),
        ({"action": "published"}, [6]),
        ({"target": "collaborator"}, [7, 3, 2]),
        ({"since": "2026-05-04", "until": "2026-05-04"}, [6, 5, 4]),
        ({"since": "2026-05-05"}, [7]),
        ({"until": "2026-05-03"}, [3, 2, 1]),
        ({"since": "2026-05-04T12:00:00Z"}, [7, 6, 5]),
        ({"email": "mona", "action": ["added", "published"], "target": "bot",
          "since": "2026-05-04", "until": "2026-05-04"}, [6, 5]),
        # What an empty form sends: blank fields filter nothing.
        ({"email": "", "target": "", "since": "", "until": ""}, NEWEST_FIRST),
    ],
    ids=json.dumps,
)  # fmt: skip
def test_the_filters_of_the_query_string_apply(
    owner_client: Client, timeline: Timeline, query: Query, seqs: list[int]
) -> None:
    markup = text(owner_client.get(page_url(timeline.world.id), query))
    assert seqs_shown(markup, timeline) == seqs


def test_the_form_shows_the_filters_applied(owner_client: Client, timeline: Timeline) -> None:
    query = {"email": "mona", "action": ["added", "published"], "target": "bot",
             "since": "2026-05-04", "until": "2026-05-05"}  # fmt: skip
    markup = text(owner_client.get(page_url(timeline.world.id), query))

    assert 'name="email" value="mona"' in markup
    assert '<option value="bot" selected>' in markup
    assert '<option value="collaborator">' in markup
    assert 'name="since" value="2026-05-04"' in markup
    assert 'name="until" value="2026-05-05"' in markup
    checked = re.findall(r'name="action" value="(\w+)" checked', markup)
    assert checked == ["added", "published"]
    assert len(re.findall(r'name="action" value="\w+"', markup)) == 6


def test_an_htmx_request_gets_only_the_rows(owner_client: Client, timeline: Timeline) -> None:
    response = owner_client.get(
        page_url(timeline.world.id), {"target": "bot"}, headers={"HX-Request": "true"}
    )
    markup = text(response)

    assert "<html" not in markup
    assert "<form" not in markup
    assert "<nav" not in markup
    assert "<table" not in markup
    assert seqs_shown(markup, timeline) == [6, 5]
    assert older_link(markup) is None


def test_older_records_carry_the_filters_and_the_cursor(
    owner_client: Client, timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_pages, "PAGE_SIZE", 2)
    query = {"email": "  Mona ", "action": ["added", "published"], "until": "2026-05-04"}
    markup = text(owner_client.get(page_url(timeline.world.id), query))
    assert seqs_shown(markup, timeline) == [6, 5]

    href = older_link(markup)
    assert href is not None
    parts = urlsplit(href)
    assert parts.path == ""  # the same page
    params = parse_qsl(parts.query)
    # The filters as applied (an until date stays a date, a whole day), then the cursor.
    assert params[:-1] == [("email", "Mona"), ("action", "added"), ("action", "published"),
                           ("until", "2026-05-04")]  # fmt: skip
    assert params[-1][0] == "cursor"
    hx_get = re.search(r'<tr id="more-row">.*?hx-get="([^"]*)"', markup, flags=re.S)
    assert hx_get and html.unescape(hx_get.group(1)) == href

    more = text(
        owner_client.get(page_url(timeline.world.id) + href, headers={"HX-Request": "true"})
    )
    assert "<html" not in more
    assert seqs_shown(more, timeline) == [3]
    assert older_link(more) is None


def test_older_records_continue_where_the_page_ended_while_events_arrive(
    owner_client: Client, timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_pages, "PAGE_SIZE", 3)
    first = text(owner_client.get(page_url(timeline.world.id)))
    assert seqs_shown(first, timeline) == [7, 6, 5]
    for n in range(2):
        services.workspace_rename(
            actor=timeline.owner.actor, workspace_id=timeline.world.id, name=f"Acme {n}"
        )

    seen = []
    href = older_link(first)
    while href is not None:
        more = text(
            owner_client.get(page_url(timeline.world.id) + href, headers={"HX-Request": "true"})
        )
        seen += seqs_shown(more, timeline)
        href = older_link(more)

    assert seen == [4, 3, 2, 1]
    fresh = text(owner_client.get(page_url(timeline.world.id)))
    assert events_shown(fresh)[:2] == ["workspace.renamed", "workspace.renamed"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "2026-02-30"}, DATE_ERROR),
        ({"until": "tomorrow"}, DATE_ERROR),
        ({"since": "2026-05-05", "until": "2026-05-04"}, "since must be before until."),
        ({"action": "erased"}, "Unknown action 'erased'"),
        ({"target": "workspace"}, "Unknown target 'workspace'"),
        ({"email": "\x00"}, "The email filter holds a NUL character."),
        ({"cursor": "not-a-cursor"}, "The cursor is not one this server issued."),
    ],
    ids=json.dumps,
)
def test_an_invalid_filter_shows_the_error_and_still_renders(
    owner_client: Client, timeline: Timeline, query: Query, message: str
) -> None:
    markup = text(owner_client.get(page_url(timeline.world.id), query))

    alert = re.search(r'<p class="form-errors" role="alert">(.*?)</p>', markup, flags=re.S)
    assert alert and message in html.unescape(alert.group(1))
    # The bad filter is not applied: the list is the whole list, and the form is there.
    assert seqs_shown(markup, timeline) == NEWEST_FIRST
    assert 'role="search"' in markup


def test_a_valid_page_shows_no_error(owner_client: Client, timeline: Timeline) -> None:
    markup = text(owner_client.get(page_url(timeline.world.id), {"since": "2026-05-04"}))
    assert 'role="alert"' not in markup


def test_the_number_of_queries_does_not_grow_with_the_records(
    owner_client: Client, timeline: Timeline
) -> None:
    owner_client.get(page_url(timeline.world.id))
    with CaptureQueriesContext(connection) as few:
        assert len(table_rows(text(owner_client.get(page_url(timeline.world.id))))) == 7
    for n in range(25):
        services.workspace_rename(
            actor=timeline.owner.actor, workspace_id=timeline.world.id, name=f"Acme {n}"
        )
    with CaptureQueriesContext(connection) as many:
        assert len(table_rows(text(owner_client.get(page_url(timeline.world.id))))) == 32
    assert len(many.captured_queries) == len(few.captured_queries)


# --- export links ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "format"), [("Export CSV", "csv"), ("Export JSON Lines", "jsonl")]
)
def test_the_export_links_download_what_is_filtered(
    owner_client: Client, timeline: Timeline, label: str, format: str
) -> None:
    query = {"email": "mona", "action": ["added", "published"], "until": "2026-05-04"}
    markup = text(owner_client.get(page_url(timeline.world.id), query))
    href = link(markup, label)
    parts = urlsplit(href)
    assert parts.path == page_url(timeline.world.id, f"/export.{format}")
    assert parse_qsl(parts.query) == [("email", "mona"), ("action", "added"),
                                      ("action", "published"), ("until", "2026-05-04")]  # fmt: skip
    before = db_snapshot()

    with clock.frozen(EXPORTED_AT):
        response: Any = owner_client.get(href)

    assert response.status_code == 200
    assert response.streaming is True
    assert response["Content-Disposition"] == (
        f'attachment; filename="audit-{timeline.world.id}.{format}"'
    )
    body = b"".join(response.streaming_content).decode()
    if format == "csv":
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        rows = list(csv.reader(io.StringIO(body, newline="")))
        assert rows[0][0] == "id"
        ids = [row[0] for row in rows[1:]]
    else:
        assert response["Content-Type"] == "application/x-ndjson"
        ids = [json.loads(line)["id"] for line in body.splitlines()]
    # Exactly the rows of the page: the until day ends at midnight (event 7 is at 00:00 on
    # the next day), and the download itself is not on or before that day.
    assert ids == timeline.ids([6, 5, 3])
    assert_unchanged(before, besides=AUDIT_TABLES)
    event = AuditEvent.objects.filter(workspace_id=timeline.world.id).latest("seq")
    assert (event.seq, event.action, event.event, event.actor_email, event.occurred_at) == (
        8, "downloaded", "audit.exported", timeline.owner.email, EXPORTED_AT,
    )  # fmt: skip
    assert event.details == {"format": format, "filters": [list(p) for p in parse_qsl(parts.query)]}


def test_an_export_with_a_bad_filter_is_refused_and_writes_nothing(
    owner_client: Client, timeline: Timeline
) -> None:
    before = db_snapshot()
    response = owner_client.get(page_url(timeline.world.id, "/export.csv"), {"until": "bad"})
    assert response.status_code == 400
    assert response.content.decode() == DATE_ERROR
    assert_unchanged(before)


# --- the chain check ---------------------------------------------------------------------


def test_verify_says_the_chain_is_intact(owner_client: Client, timeline: Timeline) -> None:
    before = db_snapshot()
    markup = text(owner_client.post(page_url(timeline.world.id, "/verify")))

    assert "<html" not in markup
    assert markup.lstrip().startswith('<div id="chain-state" class="chain-state chain-ok"')
    assert "Chain intact." in markup
    assert "All 7 records verify" in markup
    assert "Chain broken." not in markup
    assert_unchanged(before)


def test_verify_says_the_chain_is_broken_after_tampering(
    owner_client: Client, timeline: Timeline
) -> None:
    if connection.vendor == "postgresql":  # an attacker who can run DDL; undone with the test
        with connection.cursor() as cursor:
            # The timeline's rows leave deferred foreign-key checks pending, and PostgreSQL
            # alters no table with pending trigger events: run the checks now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
    tampered = timeline.events[4]
    AuditEvent.objects.filter(pk=tampered.pk).update(actor_email="someone.else@example.com")

    markup = text(owner_client.post(page_url(timeline.world.id, "/verify")))

    assert "chain-broken" in markup
    assert "Chain broken." in markup
    assert "Chain intact." not in markup
    assert (
        f"broken at event {tampered.id} (seq 4): content was altered after it was written"
        in html.unescape(markup)
    )


def test_verify_takes_a_post_only(owner_client: Client, timeline: Timeline) -> None:
    assert owner_client.get(page_url(timeline.world.id, "/verify")).status_code == 405


# --- who sees the tab --------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMINISTRATOR, Role.OWNER])
def test_roles_with_audit_access_see_the_tab(client: Client, role: Role) -> None:
    world = World(role)
    client.force_login(world.caller.user)

    markup = text(client.get(page_url(world.id)))

    assert f'href="{page_url(world.id)}"' in nav(markup)
    assert "workspace.created" in events_shown(markup)
    assert "Chain intact." in text(client.post(page_url(world.id, "/verify")))


@pytest.mark.parametrize("role", [Role.VIEWER, Role.BILLING_MANAGER, Role.DEVELOPER])
def test_roles_without_audit_access_get_the_friendly_403_and_no_tab(
    client: Client, role: Role
) -> None:
    world = World(role)
    client.force_login(world.caller.user)
    before = db_snapshot()

    for response in (
        client.get(page_url(world.id)),
        client.get(page_url(world.id), headers={"HX-Request": "true"}),
        client.get(page_url(world.id, "/export.csv")),
        client.get(page_url(world.id, "/export.jsonl")),
        client.post(page_url(world.id, "/verify")),
    ):
        assert response.status_code == 403
        assert not response.streaming
        markup = response.content.decode()
        assert "Not available to your role" in markup
        assert "<html" in markup
        assert page_url(world.id) not in nav(markup)  # no Audits tab in the sidebar
        assert "workspace.created" not in markup
        assert "Chain intact." not in markup

    assert_unchanged(before)
    home = client.get(f"/w/{world.id}/collaborators")
    assert home.status_code == 200
    assert page_url(world.id) not in nav(home.content.decode())


def test_non_members_get_a_404(client: Client, timeline: Timeline) -> None:
    stranger = World(Role.OWNER, name="Elsewhere").owner
    client.force_login(stranger.user)
    before = db_snapshot()
    assert client.get(page_url(timeline.world.id)).status_code == 404
    assert client.get(page_url(timeline.world.id, "/export.csv")).status_code == 404
    assert client.post(page_url(timeline.world.id, "/verify")).status_code == 404
    assert_unchanged(before)


def test_anonymous_visitors_are_sent_to_sign_in(client: Client, timeline: Timeline) -> None:
    for response in (
        client.get(page_url(timeline.world.id)),
        client.get(page_url(timeline.world.id, "/export.csv")),
        client.post(page_url(timeline.world.id, "/verify")),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith("/signin?next=")
    assert not AuditEvent.objects.filter(event="audit.exported").exists()


def test_long_values_may_wrap_but_are_still_escaped() -> None:
    from botyard.web.templatetags.botyard import breakable

    assert breakable("olga-b@example.test") == "olga-<wbr>b@<wbr>example.<wbr>test"
    assert breakable('<b onclick="x">a.b</b>') == (
        "&lt;b onclick=&quot;x&quot;&gt;a.<wbr>b&lt;/b&gt;"
    )
