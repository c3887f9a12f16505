"""GET /api/v1/workspaces/{ws}/audits/export (api.md, Audits; product.md §7): the filtered
list as a streamed CSV or JSON Lines attachment, newest first, safe against spreadsheet
formula injection, read from the database in chunks; the download itself audited once; and
the refusals, which write nothing. The events are those of tests/audit/timeline.py."""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import json
import weakref
from typing import Any

import pytest
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.signals import post_init
from django.http import StreamingHttpResponse

from botyard.audit import export
from botyard.audit.models import Action, AuditEvent, TargetType
from botyard.audit.services import audit_record, audit_verify
from botyard.core import clock
from botyard.workspaces import services
from botyard.workspaces.roles import Role
from tests.audit.timeline import NEWEST_FIRST, Timeline, build_timeline
from tests.helpers import ApiClient, assert_problem
from tests.workspaces.world import AUDIT_TABLES, World, assert_unchanged, db_snapshot

pytestmark = pytest.mark.django_db

EXPORTED_AT = dt.datetime(2026, 5, 6, 8, 30, 15, tzinfo=dt.UTC)
STAMP = "20260506-083015"
HEADER = ["id", "occurred_at", "actor_email", "action", "target_type", "target_id",
          "target_label", "event", "details", "ip"]  # fmt: skip
CLIENT_ADDRESS = "127.0.0.1"  # the test client's REMOTE_ADDR

Query = dict[str, Any]


@pytest.fixture
def timeline() -> Timeline:
    return build_timeline()


def url(workspace_id: str) -> str:
    return f"/api/v1/workspaces/{workspace_id}/audits/export"


def download(
    api_client: ApiClient, timeline: Timeline, query: Query, *, token: str | None = None
) -> Any:
    with clock.frozen(EXPORTED_AT):
        return api_client.get(url(timeline.world.id), query, token=token or timeline.owner.token)


def text_of(response: Any) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def csv_rows(response: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text_of(response), newline="")))


def jsonl_items(response: Any) -> list[dict[str, Any]]:
    text = text_of(response)
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def searched(api_client: ApiClient, timeline: Timeline, query: Query) -> list[dict[str, Any]]:
    """What GET …/audits answers for the same filters (all of it, on one page)."""
    response = api_client.get(
        f"/api/v1/workspaces/{timeline.world.id}/audits",
        {**query, "limit": 200},
        token=timeline.owner.token,
    )
    assert response.status_code == 200, response.content
    items: list[dict[str, Any]] = json.loads(response.content)["items"]
    return items


def export_event(timeline: Timeline) -> AuditEvent:
    return AuditEvent.objects.get(workspace_id=timeline.world.id, event="audit.exported")


# --- the attachment ----------------------------------------------------------------------


def test_csv_is_a_streamed_attachment_with_a_header_and_a_row_per_event(
    api_client: ApiClient, timeline: Timeline
) -> None:
    response = download(api_client, timeline, {"format": "csv"})

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response.streaming is True
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="audit-{timeline.world.id}-{STAMP}.csv"'
    )
    rows = csv_rows(response)
    assert rows[0] == HEADER
    # The download is recorded before the rows are read, so it is the newest row.
    downloaded = export_event(timeline)
    assert [row[0] for row in rows[1:]] == [downloaded.id, *timeline.ids(NEWEST_FIRST)]
    events, owner, manager = timeline.events, timeline.owner, timeline.manager
    assert rows[1] == [
        downloaded.id, "2026-05-06T08:30:15Z", owner.email, "downloaded", "configuration",
        timeline.world.id, "Acme Corp", "audit.exported",
        '{"filters": [], "format": "csv"}', CLIENT_ADDRESS,
    ]  # fmt: skip
    assert rows[2] == [
        events[7].id, "2026-05-05T00:00:00Z", owner.email, "removed", "collaborator",
        manager.id, manager.email, "collaborator.removed", '{"role": "manager"}',
        "203.0.113.7",
    ]  # fmt: skip
    assert rows[3] == [
        events[6].id, "2026-05-04T23:59:59.999999Z", manager.email, "published", "bot",
        timeline.bot_id, "Helper", "bot.published", '{"version": 1}', "203.0.113.7",
    ]  # fmt: skip
    assert rows[5][6:9] == [
        "Acme Corp",
        "workspace.renamed",
        '{"after": "Acme Corp", "before": "Acme"}',
    ]
    assert all(len(row) == len(HEADER) for row in rows)


def test_csv_lines_end_with_crlf_and_nothing_follows_the_last_row(
    api_client: ApiClient, timeline: Timeline
) -> None:
    text = text_of(download(api_client, timeline, {"format": "csv", "target": "bot"}))
    assert text.startswith(",".join(HEADER) + "\r\n")
    assert text.count("\r\n") == 3  # the header and the two bot events
    assert text.endswith("\r\n")


def test_the_format_defaults_to_csv(api_client: ApiClient, timeline: Timeline) -> None:
    response = download(api_client, timeline, {})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].endswith(f'-{STAMP}.csv"')
    assert csv_rows(response)[0] == HEADER


def test_json_lines_hold_one_api_item_per_line(api_client: ApiClient, timeline: Timeline) -> None:
    response = download(api_client, timeline, {"format": "jsonl"})

    assert response.status_code == 200
    assert response.streaming is True
    assert response["Content-Type"] == "application/x-ndjson"
    assert response["Content-Disposition"] == (
        f'attachment; filename="audit-{timeline.world.id}-{STAMP}.jsonl"'
    )
    items = jsonl_items(response)
    downloaded = export_event(timeline)
    assert [item["id"] for item in items] == [downloaded.id, *timeline.ids(NEWEST_FIRST)]
    # Exactly the objects the API lists, microseconds and all.
    assert items == searched(api_client, timeline, {})
    assert items[0] == {
        "id": downloaded.id,
        "occurred_at": "2026-05-06T08:30:15Z",
        "actor_email": timeline.owner.email,
        "action": "downloaded",
        "target": {"type": "configuration", "id": timeline.world.id, "label": "Acme Corp"},
        "event": "audit.exported",
        "details": {"format": "jsonl", "filters": []},
        "ip": CLIENT_ADDRESS,
    }
    assert items[2]["occurred_at"] == "2026-05-04T23:59:59.999999Z"


FILTERED = [
    {"email": "MONA"},
    {"action": ["added", "removed"]},
    {"action": "downloaded"},
    {"target": "bot"},
    {"target": "configuration"},
    {"since": "2026-05-04", "until": "2026-05-04"},
    {"since": "2026-05-04"},
    {"until": "2026-05-04T12:00:00Z"},
    {"since": "2026-05-04T12:00:00Z", "until": "2026-05-04T23:59:59.999999Z"},
    {"email": "mona", "action": ["added", "published"], "target": "bot", "until": "2026-05-04"},
    {"email": "nobody"},
]


@pytest.mark.parametrize("query", FILTERED, ids=json.dumps)
@pytest.mark.parametrize("format", ["csv", "jsonl"])
def test_the_export_holds_exactly_the_filtered_list(
    api_client: ApiClient, timeline: Timeline, query: Query, format: str
) -> None:
    response = download(api_client, timeline, {"format": format, **query})
    assert response.status_code == 200
    if format == "csv":
        rows = csv_rows(response)
        assert rows[0] == HEADER
        ids = [row[0] for row in rows[1:]]
    else:
        ids = [item["id"] for item in jsonl_items(response)]

    expected = [item["id"] for item in searched(api_client, timeline, query)]
    assert ids == expected
    assert len(set(ids)) == len(ids)


def test_date_filters_are_whole_days_in_the_export_too(
    api_client: ApiClient, timeline: Timeline
) -> None:
    response = download(
        api_client, timeline, {"format": "jsonl", "since": "2026-05-04", "until": "2026-05-04"}
    )
    times = [item["occurred_at"] for item in jsonl_items(response)]
    assert times == ["2026-05-04T23:59:59.999999Z", "2026-05-04T12:00:00Z", "2026-05-04T00:00:00Z"]


# --- formula injection -------------------------------------------------------------------

DANGEROUS = {
    "name": '=HYPERLINK("http://evil.example","click")',
    "renamed": "+cmd|' /C calc'!A0",
    "bot_name": "@SUM(1+1)",
    "manager_email": "-2+3@example.com",
}


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=1", "a=1"),
        (" =1", " =1"),
        ("'=1", "'=1"),
        ("", ""),
    ],
)
def test_neutralise(cell: str, safe: str) -> None:
    assert export.neutralise(cell) == safe


def test_cells_that_a_spreadsheet_would_run_are_neutralised(api_client: ApiClient) -> None:
    timeline = build_timeline(**DANGEROUS)
    world = timeline.world
    with clock.frozen(EXPORTED_AT - dt.timedelta(hours=1)), transaction.atomic():
        for label in ("\tTAB=1+1", "\rCR=1+1"):
            audit_record(
                workspace=world.workspace, actor=timeline.owner.actor, action=Action.UPDATED,
                target_type=TargetType.CONFIGURATION, target_id=world.id, target_label=label,
                event="test.label",
            )  # fmt: skip

    rows = csv_rows(download(api_client, timeline, {"format": "csv"}))

    by_id = {row[0]: dict(zip(HEADER, row, strict=True)) for row in rows[1:]}
    events = timeline.events
    assert by_id[events[1].id]["target_label"] == "'" + DANGEROUS["name"]
    assert by_id[events[4].id]["target_label"] == "'" + DANGEROUS["renamed"]
    assert by_id[events[5].id]["target_label"] == "'@SUM(1+1)"
    assert by_id[events[6].id]["target_label"] == "'@SUM(1+1)"
    for seq in (3, 5, 6):
        assert by_id[events[seq].id]["actor_email"] == "'-2+3@example.com"
    assert by_id[events[7].id]["target_label"] == "'-2+3@example.com"
    assert [row[6] for row in rows[1:4]] == ["'" + DANGEROUS["renamed"], "'\rCR=1+1", "'\tTAB=1+1"]
    # Every cell of the file is safe to open.
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(export.FORMULA_STARTS), (cell, row)
    # The details are JSON and start with "{"; the values inside them are left as they are.
    assert by_id[events[5].id]["details"] == '{"name": "@SUM(1+1)"}'


def test_json_lines_keep_the_values_as_they_are(api_client: ApiClient) -> None:
    timeline = build_timeline(**DANGEROUS)
    items = jsonl_items(download(api_client, timeline, {"format": "jsonl"}))
    by_id = {item["id"]: item for item in items}
    events = timeline.events
    assert by_id[events[1].id]["target"]["label"] == DANGEROUS["name"]
    assert by_id[events[5].id]["target"]["label"] == "@SUM(1+1)"
    assert by_id[events[6].id]["actor_email"] == "-2+3@example.com"
    assert items[0]["target"]["label"] == DANGEROUS["renamed"]


def test_quotes_and_commas_survive_the_csv(api_client: ApiClient) -> None:
    timeline = build_timeline(bot_name='Say "hi", then, go')
    rows = csv_rows(download(api_client, timeline, {"format": "csv", "target": "bot"}))
    assert [row[6] for row in rows[1:]] == ['Say "hi", then, go', 'Say "hi", then, go']
    assert json.loads(rows[2][8]) == {"name": 'Say "hi", then, go'}


# --- read in chunks ----------------------------------------------------------------------


def test_rows_are_read_in_chunks_and_written_as_they_come(
    api_client: ApiClient, timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunk = 3
    monkeypatch.setattr(export, "CHUNK", chunk)
    with clock.frozen(EXPORTED_AT - dt.timedelta(days=1)):
        for n in range(20):  # 27 events, then the download's own: nine chunks and a bit
            services.workspace_rename(
                actor=timeline.owner.actor, workspace_id=timeline.world.id, name=f"Acme {n}"
            )
    chunk_sizes: list[int | None] = []
    real_iterator = QuerySet.iterator

    def iterator(self: QuerySet[Any], chunk_size: int | None = None) -> Any:
        if self.model is AuditEvent:
            chunk_sizes.append(chunk_size)
        return real_iterator(self, chunk_size=chunk_size)

    monkeypatch.setattr(QuerySet, "iterator", iterator)

    for format in ("csv", "jsonl"):
        response = download(api_client, timeline, {"format": format})
        live: weakref.WeakSet[AuditEvent] = weakref.WeakSet()
        most_alive = 0
        pieces: list[bytes] = []

        def track(sender: Any, instance: AuditEvent, **kwargs: Any) -> None:
            live.add(instance)

        post_init.connect(track, sender=AuditEvent)
        try:
            for piece in response.streaming_content:
                pieces.append(piece)
                gc.collect()
                most_alive = max(most_alive, len(live))
        finally:
            post_init.disconnect(track, sender=AuditEvent)

        text = b"".join(pieces).decode()
        ids = (
            [row[0] for row in list(csv.reader(io.StringIO(text, newline="")))[1:]]
            if format == "csv"
            else [json.loads(line)["id"] for line in text.splitlines()]
        )
        everything = list(
            AuditEvent.objects.filter(workspace_id=timeline.world.id)
            .order_by("-seq")
            .values_list("id", flat=True)
        )
        # Complete, in order, although each read held at most one chunk.
        assert ids == everything
        assert len(pieces) >= len(ids)  # written row by row, not gathered first
        assert 0 < most_alive <= chunk

    assert chunk_sizes == [chunk, chunk]
    assert len(everything) == 7 + 20 + 2


# --- the download is audited -------------------------------------------------------------


def test_an_export_writes_exactly_one_event(api_client: ApiClient, timeline: Timeline) -> None:
    query = {"format": "jsonl", "email": " Mona ", "action": ["added", "removed"],
             "target": "bot", "since": "2026-05-04", "until": "2026-05-04T20:00:00Z"}  # fmt: skip
    download(api_client, timeline, {"format": "csv", "target": "bot"})  # the token's first use
    before = db_snapshot()
    count = AuditEvent.objects.filter(workspace_id=timeline.world.id).count()

    response = download(api_client, timeline, query)
    text_of(response)

    assert_unchanged(before, besides=AUDIT_TABLES)
    new = AuditEvent.objects.filter(workspace_id=timeline.world.id).order_by("-seq")
    assert new.count() == count + 1
    event = new.first()
    assert event is not None
    assert (event.seq, event.action, event.event) == (count + 1, "downloaded", "audit.exported")
    assert (event.target_type, event.target_id, event.target_label) == (
        "configuration", timeline.world.id, "Acme Corp",
    )  # fmt: skip
    assert (event.actor_email, event.ip, event.occurred_at) == (
        timeline.owner.email, CLIENT_ADDRESS, EXPORTED_AT,
    )  # fmt: skip
    # The filters as they were applied, written so that they read back the same.
    assert event.details == {
        "format": "jsonl",
        "filters": [["email", "Mona"], ["action", "added"], ["action", "removed"],
                    ["target", "bot"], ["since", "2026-05-04"],
                    ["until", "2026-05-04T20:00:00Z"]],
    }  # fmt: skip
    assert audit_verify(workspace_id=timeline.world.id).ok


def test_streaming_the_rows_writes_nothing_more(api_client: ApiClient, timeline: Timeline) -> None:
    response = download(api_client, timeline, {"format": "csv"})
    before = db_snapshot()
    text_of(response)
    assert_unchanged(before)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMINISTRATOR])
def test_roles_with_audit_access_may_export(api_client: ApiClient, role: Role) -> None:
    world = World(role)
    with clock.frozen(EXPORTED_AT):
        response = api_client.get(url(world.id), {"format": "jsonl"}, token=world.caller.token)
    items = jsonl_items(response)
    assert [i["event"] for i in items] == [
        "audit.exported", "collaborator.joined", "collaborator.invited", "workspace.created",
    ]  # fmt: skip
    assert items[0]["actor_email"] == world.caller.email


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.VIEWER, Role.BILLING_MANAGER, Role.DEVELOPER])
@pytest.mark.parametrize("format", ["csv", "jsonl"])
def test_roles_without_audit_access_are_refused_and_nothing_is_written(
    api_client: ApiClient, role: Role, format: str
) -> None:
    world = World(role)
    before = db_snapshot()

    response = api_client.get(url(world.id), {"format": format}, token=world.caller.token)

    assert_problem(response, 403, "forbidden")
    assert not response.streaming
    assert_unchanged(before)
    assert not AuditEvent.objects.filter(event="audit.exported").exists()


def test_non_members_get_a_404_and_nothing_is_written(
    api_client: ApiClient, timeline: Timeline
) -> None:
    stranger = World(Role.OWNER, name="Elsewhere").owner
    before = db_snapshot()
    response = download(api_client, timeline, {"format": "csv"}, token=stranger.token)
    assert_problem(response, 404, "workspace_not_found")
    assert_unchanged(before)


def test_anonymous_callers_get_a_401(api_client: ApiClient, timeline: Timeline) -> None:
    before = db_snapshot()
    assert_problem(api_client.get(url(timeline.world.id)), 401, "not_authenticated")
    assert_unchanged(before)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"format": "xml"}, "invalid_format"),
        ({"format": "CSV"}, "invalid_format"),
        ({"format": ""}, "invalid_format"),
        ({"format": "csv", "action": "erased"}, "invalid_filter"),
        ({"format": "csv", "target": "workspace"}, "invalid_filter"),
        ({"format": "jsonl", "since": "2026-02-30"}, "invalid_date"),
        ({"format": "jsonl", "since": "2026-05-05", "until": "2026-05-04"}, "invalid_date"),
        ({"format": "jsonl", "until": "9999-12-31"}, "invalid_date"),
    ],
    ids=json.dumps,
)
def test_a_bad_format_or_filter_is_a_400_and_nothing_is_written(
    api_client: ApiClient, timeline: Timeline, query: Query, code: str
) -> None:
    download(api_client, timeline, {"format": "csv", "target": "bot"})  # the token's first use
    before = db_snapshot()

    response = download(api_client, timeline, query)

    assert_problem(response, 400, code)
    assert_unchanged(before)
