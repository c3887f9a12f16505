"""The Bots section of api.md and the rules of product.md §4 and §7, through the HTTP API:
each status and code, the body, what changed in the database and what did not, and the
audit event written in the same transaction. Who may call which route is proven for every
role by tests/workspaces/test_permissions.py; here the roles appear where a rule depends
on them (a developer deleting their own bot)."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from botyard.audit.models import AuditEvent
from botyard.audit.services import audit_verify
from botyard.bots import services
from botyard.bots.definition import empty_definition
from botyard.bots.models import Bot, BotKey, BotVersion
from botyard.core import clock
from botyard.messaging.models import Conversation, DailyBotStats, Message
from botyard.workspaces.models import Workspace
from botyard.workspaces.roles import Role
from tests.helpers import ApiClient, assert_problem
from tests.workspaces.operations import OPERATIONS
from tests.workspaces.world import (
    BOT_DEFINITION,
    Person,
    World,
    assert_unchanged,
    db_snapshot,
    rows_mentioning,
)

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
T0_TEXT = "2026-03-01T09:30:00Z"
T1 = dt.datetime(2026, 3, 2, 14, 0, 5, tzinfo=dt.UTC)
T1_TEXT = "2026-03-02T14:00:05Z"
ADDRESS = "198.51.100.23"
MISSING_BOT = "bot_0000000000doesnotexist0"


def body(response: Any) -> Any:
    return json.loads(response.content)


def bots_url(world: World, suffix: str = "") -> str:
    return f"/api/v1/workspaces/{world.id}/bots{suffix}"


def bot_url(world: World, bot_id: str, suffix: str = "") -> str:
    return bots_url(world, f"/{bot_id}{suffix}")


def events(world: World) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(workspace_id=world.id).order_by("seq"))


def last_event(world: World) -> AuditEvent:
    return AuditEvent.objects.filter(workspace_id=world.id).latest("seq")


def assert_event(
    world: World,
    *,
    actor: str,
    action: str,
    event: str,
    bot_id: str,
    label: str,
    details: dict[str, Any],
) -> None:
    """The newest event of the workspace is exactly this one, and the chain holds."""
    got = last_event(world)
    assert (got.actor_email, got.action, got.event) == (actor, action, event)
    assert (got.target_type, got.target_id, got.target_label) == ("bot", bot_id, label)
    assert got.details == details
    assert audit_verify(workspace_id=world.id).ok


def make_bot(world: World, *, by: Person | None = None, name: str = "Bot", **fields: Any) -> Bot:
    return services.bot_create(
        actor=(by or world.owner).actor, workspace_id=world.id, name=name, **fields
    )


def fill(world: World, count: int) -> None:
    for n in range(count):
        make_bot(world, name=f"Filler {n}")


def export_of(world: World, bot: Bot) -> dict[str, Any]:
    return services.bot_export(actor=world.owner.actor, workspace_id=world.id, bot_id=bot.id)


def post_message(api_client: ApiClient, bot_id: str, secret: str, text: str) -> Any:
    return api_client.post(
        f"/api/v1/bots/{bot_id}/messages", {"user_id": "end-user-1", "text": text}, token=secret
    )


def edited(**changes: Any) -> dict[str, Any]:
    definition = copy.deepcopy(BOT_DEFINITION)
    definition.update(changes)
    return definition


# --- GET /bots -------------------------------------------------------------------------


def test_list_answers_the_documented_shape_oldest_first(api_client: ApiClient) -> None:
    world = World(Role.VIEWER)
    developer = world.add(Role.DEVELOPER)
    with clock.frozen(T0):
        first = make_bot(world, name="First", description="The first one")
    with clock.frozen(T1):
        second = make_bot(world, by=developer, name="Second", definition=BOT_DEFINITION)
    services.bot_publish(actor=world.owner.actor, workspace_id=world.id, bot_id=second.id)

    response = api_client.get(bots_url(world), token=world.caller.token)

    assert response.status_code == 200, response.content
    assert body(response) == {
        "items": [
            {
                "id": first.id,
                "name": "First",
                "description": "The first one",
                "created_by": {"id": world.owner.id, "email": world.owner.email},
                "created_at": T0_TEXT,
                "updated_at": T0_TEXT,
                "published_version": None,
            },
            {
                "id": second.id,
                "name": "Second",
                "description": "",
                "created_by": {"id": developer.id, "email": developer.email},
                "created_at": T1_TEXT,
                "updated_at": T1_TEXT,
                "published_version": 1,
            },
        ],
        "next_cursor": None,
    }
    assert first.id.startswith("bot_") and second.id.startswith("bot_")


def test_an_empty_workspace_lists_no_bots(api_client: ApiClient) -> None:
    world = World(Role.DEVELOPER)
    assert body(api_client.get(bots_url(world), token=world.caller.token)) == {
        "items": [],
        "next_cursor": None,
    }


def test_list_pages_with_a_cursor(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    made = []
    for n in range(5):
        with clock.frozen(T0 + dt.timedelta(minutes=n)):
            made.append(make_bot(world, name=f"Bot {n}").id)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = body(api_client.get(bots_url(world), query, token=world.caller.token))
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (made, 3)


@pytest.mark.parametrize(
    ("query", "code"),
    [({"limit": 0}, "invalid_limit"), ({"limit": 201}, "invalid_limit"),
     ({"cursor": "nonsense"}, "invalid_cursor")],
)  # fmt: skip
def test_list_refuses_a_bad_limit_or_cursor(
    api_client: ApiClient, query: dict[str, Any], code: str
) -> None:
    world = World(Role.OWNER)
    assert_problem(api_client.get(bots_url(world), query, token=world.caller.token), 400, code)


def test_the_list_does_not_grow_queries_with_the_number_of_bots(api_client: ApiClient) -> None:
    world = World(Role.VIEWER)
    make_bot(world, definition=BOT_DEFINITION)
    api_client.get(bots_url(world), token=world.caller.token)  # the token's first use
    with CaptureQueriesContext(connection) as one:
        api_client.get(bots_url(world), token=world.caller.token)

    Workspace.objects.filter(pk=world.id).update(custom_bot_limit=20)
    others = [world.add(Role.DEVELOPER) for _ in range(3)]
    for n in range(12):
        bot = make_bot(world, by=others[n % 3], name=f"Bot {n}", definition=BOT_DEFINITION)
        if n % 2:
            services.bot_publish(actor=world.owner.actor, workspace_id=world.id, bot_id=bot.id)
    with CaptureQueriesContext(connection) as many:
        data = body(api_client.get(bots_url(world), token=world.caller.token))

    assert len(data["items"]) == 13
    assert len(many.captured_queries) == len(one.captured_queries)
    # The list leaves the drafts (up to 256 KiB each) in the database.
    bot_queries = [q["sql"] for q in many.captured_queries if '"bots_bot"' in q["sql"]]
    assert bot_queries and all('"definition"' not in sql for sql in bot_queries)


# --- POST /bots ------------------------------------------------------------------------


def test_create_answers_201_with_the_new_bot_and_audits_added(api_client: ApiClient) -> None:
    with clock.frozen(T0 - dt.timedelta(hours=1)):  # the chain's earlier events come first
        world = World(Role.DEVELOPER)

    with clock.frozen(T0):
        response = api_client.post(
            bots_url(world),
            {"name": "  Support bot ", "description": " Answers questions. "},
            token=world.caller.token,
            REMOTE_ADDR=ADDRESS,
        )

    assert response.status_code == 201, response.content
    bot = Bot.objects.get()
    assert body(response) == {
        "id": bot.id,
        "name": "Support bot",
        "description": "Answers questions.",
        "created_by": {"id": world.caller.id, "email": world.caller.email},
        "created_at": T0_TEXT,
        "updated_at": T0_TEXT,
        "published_version": None,
        "definition": empty_definition(),
    }
    assert (bot.workspace_id, bot.created_by_id, bot.created_by_email) == (
        world.id,
        world.caller.id,
        world.caller.email,
    )
    assert bot.definition == empty_definition()
    assert not bot.versions.exists()
    assert_event(world, actor=world.caller.email, action="added", event="bot.created",
                 bot_id=bot.id, label="Support bot", details={"name": "Support bot"})  # fmt: skip
    event = last_event(world)
    assert (event.ip, event.occurred_at) == (ADDRESS, T0)


def test_create_with_a_definition_stores_it_as_the_draft(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    response = api_client.post(
        bots_url(world), {"name": "Shop", "definition": BOT_DEFINITION}, token=world.caller.token
    )
    assert response.status_code == 201, response.content
    assert body(response)["definition"] == BOT_DEFINITION
    assert Bot.objects.get().definition == BOT_DEFINITION


def test_a_name_of_64_characters_is_accepted(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    response = api_client.post(bots_url(world), {"name": "n" * 64}, token=world.caller.token)
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    "name", ["", "   ", "n" * 65, "bad\x00name", "bad\nname", "zero\u200bwidth", None, 7, ["x"]],
    ids=repr,
)  # fmt: skip
def test_create_refuses_a_bad_name_and_creates_nothing(api_client: ApiClient, name: Any) -> None:
    world = World(Role.OWNER)
    before = db_snapshot()

    response = api_client.post(bots_url(world), {"name": name}, token=world.caller.token)

    problem = assert_problem(response, 400, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["name"]
    assert_unchanged(before)


def test_create_without_a_name_is_refused(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    before = db_snapshot()
    problem = assert_problem(api_client.post(bots_url(world), {}, token=world.caller.token), 400)
    assert [e["field"] for e in problem["errors"]] == ["name"]
    assert_unchanged(before)


@pytest.mark.parametrize("description", ["d" * 1001, "nul\x00", 5], ids=lambda d: repr(d)[:12])
def test_create_refuses_a_bad_description(api_client: ApiClient, description: Any) -> None:
    world = World(Role.OWNER)
    before = db_snapshot()
    response = api_client.post(
        bots_url(world), {"name": "Bot", "description": description}, token=world.caller.token
    )
    problem = assert_problem(response, 400, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["description"]
    assert_unchanged(before)


def test_create_refuses_an_invalid_definition_with_field_errors(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    definition = edited(format=2, intents=[{"name": "a", "examples": [], "reply": "r"}])
    before = db_snapshot()

    response = api_client.post(
        bots_url(world), {"name": "Bot", "definition": definition}, token=world.caller.token
    )

    problem = assert_problem(response, 400, "invalid_definition")
    assert problem["detail"] == "The definition has 2 problems."
    assert problem["errors"] == [
        {"field": "definition.format",
         "message": 'Set "format": 1 (the only format this server reads).'},
        {"field": "definition.intents[0].examples",
         "message": "Give at least one example phrase."},
    ]  # fmt: skip
    assert_unchanged(before)


@pytest.mark.parametrize(
    "text", ["nul \u0000", "lone \ud800", "\udc00 low"], ids=["nul", "high", "low"]
)
def test_create_refuses_text_no_database_can_store(api_client: ApiClient, text: str) -> None:
    # Sent as JSON escapes ("\u0000", "\ud800"), as a client would; not a 500 on any database.
    world = World(Role.OWNER)
    before = db_snapshot()
    payload = json.dumps({"name": "Bot", "definition": edited(fallback=text)})
    response = api_client.django.post(
        bots_url(world), payload, content_type="application/json",
        headers={"Authorization": f"Bearer {world.caller.token}"},
    )  # fmt: skip
    problem = assert_problem(response, 400, "invalid_definition")
    assert [e["field"] for e in problem["errors"]] == ["definition.fallback"]
    assert_unchanged(before)


@pytest.mark.parametrize("definition", [[], "x", 1], ids=repr)
def test_create_refuses_a_definition_that_is_not_an_object(
    api_client: ApiClient, definition: Any
) -> None:
    world = World(Role.OWNER)
    before = db_snapshot()
    response = api_client.post(
        bots_url(world), {"name": "Bot", "definition": definition}, token=world.caller.token
    )
    problem = assert_problem(response, 400, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["definition"]
    assert_unchanged(before)


def test_create_refuses_a_definition_over_256_kib(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    definition = edited(
        intents=[{"name": f"i{n}", "examples": ["e" * 4000] * 10, "reply": "r"} for n in range(7)]
    )
    before = db_snapshot()
    response = api_client.post(
        bots_url(world), {"name": "Bot", "definition": definition}, token=world.caller.token
    )
    problem = assert_problem(response, 400, "invalid_definition")
    assert problem["errors"][0]["field"] == "definition"
    assert "the most is 262144" in problem["errors"][0]["message"]
    assert_unchanged(before)


def test_create_and_its_event_commit_together_or_not_at_all() -> None:
    world = World(Role.OWNER)
    before = db_snapshot()
    with (
        mock.patch("botyard.bots.services.audit_record", side_effect=RuntimeError("disk full")),
        pytest.raises(RuntimeError),
    ):
        make_bot(world)
    assert_unchanged(before)


# --- the bot limit (create and import) ---------------------------------------------------


LIMITS = [
    pytest.param("community", None, 5, id="community-5"),
    pytest.param("business", None, 10, id="business-10"),
    pytest.param("community", 2, 2, id="custom-2"),
    pytest.param("business", 12, 12, id="custom-12"),
]


def _at_the_limit(plan: str, custom: int | None, limit: int) -> World:
    world = World(Role.DEVELOPER, plan=plan)
    if custom is not None:
        Workspace.objects.filter(pk=world.id).update(custom_bot_limit=custom)
    fill(world, limit - 1)
    return world


@pytest.mark.parametrize(("plan", "custom", "limit"), LIMITS)
@pytest.mark.parametrize("route", ["create", "import"])
def test_the_bot_limit_is_exact(
    api_client: ApiClient, plan: str, custom: int | None, limit: int, route: str
) -> None:
    world = _at_the_limit(plan, custom, limit)
    source = World(Role.OWNER, name="Source")
    document = export_of(source, make_bot(source, name="Exported", definition=BOT_DEFINITION))

    def add() -> Any:
        if route == "create":
            return api_client.post(bots_url(world), {"name": "One more"}, token=world.caller.token)
        return api_client.post(bots_url(world, "/import"), document, token=world.caller.token)

    assert add().status_code == 201  # the last one that fits
    assert Bot.objects.filter(workspace_id=world.id).count() == limit
    before = db_snapshot()

    problem = assert_problem(add(), 409, "bot_limit_reached")

    assert problem["detail"] == (
        f"This workspace has {limit} of {limit} bots, the most its plan allows. Delete a bot or "
        "upgrade the plan to add more."
    )
    assert_unchanged(before)
    assert Bot.objects.filter(workspace_id=world.id).count() == limit


def test_deleting_a_bot_makes_room_again(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    fill(world, 5)
    assert_problem(api_client.post(bots_url(world), {"name": "Six"}, token=world.owner.token),
                   409, "bot_limit_reached")  # fmt: skip
    victim = Bot.objects.filter(workspace_id=world.id).first()
    assert victim is not None
    api_client.delete(bot_url(world, victim.id), token=world.owner.token)
    response = api_client.post(bots_url(world), {"name": "Six"}, token=world.owner.token)
    assert response.status_code == 201, response.content


def test_bots_of_other_workspaces_do_not_count(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    other = World(Role.OWNER, name="Other")
    fill(other, 5)
    fill(world, 4)
    response = api_client.post(bots_url(world), {"name": "Fifth"}, token=world.owner.token)
    assert response.status_code == 201, response.content


# --- GET /bots/{bot} -------------------------------------------------------------------


def test_get_answers_the_bot_with_its_draft(api_client: ApiClient) -> None:
    world = World(Role.VIEWER)
    with clock.frozen(T0):
        bot = make_bot(world, name="Shop", description="Sells", definition=BOT_DEFINITION)

    response = api_client.get(bot_url(world, bot.id), token=world.caller.token)

    assert response.status_code == 200
    assert body(response) == {
        "id": bot.id,
        "name": "Shop",
        "description": "Sells",
        "created_by": {"id": world.owner.id, "email": world.owner.email},
        "created_at": T0_TEXT,
        "updated_at": T0_TEXT,
        "published_version": None,
        "definition": BOT_DEFINITION,
    }


@pytest.mark.parametrize("bot_id", [MISSING_BOT, "bot_", "x" * 300])
def test_an_unknown_bot_is_404(api_client: ApiClient, bot_id: str) -> None:
    world = World(Role.OWNER)
    assert_problem(api_client.get(bot_url(world, bot_id), token=world.caller.token),
                   404, "bot_not_found")  # fmt: skip


def test_the_creator_is_kept_when_their_account_is_gone(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    developer = world.add(Role.DEVELOPER)
    bot = make_bot(world, by=developer)
    developer.user.delete()
    data = body(api_client.get(bot_url(world, bot.id), token=world.owner.token))
    assert data["created_by"] == {"id": None, "email": developer.email}


# --- PATCH /bots/{bot} -----------------------------------------------------------------


def test_update_changes_the_given_fields_and_audits_them(api_client: ApiClient) -> None:
    world = World(Role.DEVELOPER)
    with clock.frozen(T0):
        bot = make_bot(world, name="Shop", description="Old", definition=BOT_DEFINITION)
    definition = edited(fallback="Ask me about hours or prices.")

    with clock.frozen(T1):
        response = api_client.patch(
            bot_url(world, bot.id),
            {"name": " Shop assistant ", "description": "New", "definition": definition},
            token=world.caller.token,
        )

    assert response.status_code == 200, response.content
    assert body(response) == {
        "id": bot.id,
        "name": "Shop assistant",
        "description": "New",
        "created_by": {"id": world.owner.id, "email": world.owner.email},
        "created_at": T0_TEXT,
        "updated_at": T1_TEXT,
        "published_version": None,
        "definition": definition,
    }
    bot.refresh_from_db()
    assert (bot.name, bot.description, bot.definition) == ("Shop assistant", "New", definition)
    assert (bot.created_at, bot.updated_at) == (T0, T1)
    assert_event(
        world, actor=world.caller.email, action="updated", event="bot.updated", bot_id=bot.id,
        label="Shop assistant",
        details={"changed": ["definition", "description", "name"],
                 "name": {"before": "Shop", "after": "Shop assistant"}},
    )  # fmt: skip


def test_update_of_one_field_leaves_the_others(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    bot = make_bot(world, name="Shop", description="Keep", definition=BOT_DEFINITION)
    response = api_client.patch(
        bot_url(world, bot.id), {"description": "Changed"}, token=world.caller.token
    )
    assert response.status_code == 200
    bot.refresh_from_db()
    assert (bot.name, bot.description, bot.definition) == ("Shop", "Changed", BOT_DEFINITION)
    assert last_event(world).details == {"changed": ["description"]}


@pytest.mark.parametrize(
    "payload", [{}, {"name": "Shop"}, {"name": "  Shop "}, {"definition": BOT_DEFINITION},
                {"name": None, "description": None, "definition": None}],
    ids=["empty", "same-name", "same-trimmed", "same-definition", "nulls"],
)  # fmt: skip
def test_an_update_that_changes_nothing_writes_nothing(
    api_client: ApiClient, payload: dict[str, Any]
) -> None:
    world = World(Role.OWNER)
    bot = make_bot(world, name="Shop", definition=BOT_DEFINITION)
    before = db_snapshot()
    response = api_client.patch(bot_url(world, bot.id), payload, token=world.caller.token)
    assert response.status_code == 200, response.content
    assert body(response)["name"] == "Shop"
    assert_unchanged(before)


def test_update_refuses_an_invalid_definition_and_changes_nothing(api_client: ApiClient) -> None:
    world = World(Role.DEVELOPER)
    bot = make_bot(world, definition=BOT_DEFINITION)
    broken = edited()
    broken["intents"][1]["name"] = "Hours"
    broken["intents"][0]["examples"] = ["ok", 3]
    before = db_snapshot()

    response = api_client.patch(
        bot_url(world, bot.id), {"name": "New name", "definition": broken}, token=world.caller.token
    )

    problem = assert_problem(response, 400, "invalid_definition")
    assert problem["errors"] == [
        {"field": "definition.intents[0].examples[1]", "message": "Must be text."},
        {"field": "definition.intents[1].name",
         "message": "Another intent is already named 'Hours'."},
    ]  # fmt: skip
    assert_unchanged(before)


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"name": ""}, "name"), ({"name": "x" * 65}, "name"), ({"description": "d" * 1001},
     "description"), ({"definition": []}, "definition")],
)  # fmt: skip
def test_update_refuses_bad_fields(
    api_client: ApiClient, payload: dict[str, Any], field: str
) -> None:
    world = World(Role.OWNER)
    bot = make_bot(world)
    before = db_snapshot()
    problem = assert_problem(
        api_client.patch(bot_url(world, bot.id), payload, token=world.caller.token), 400
    )
    assert [e["field"] for e in problem["errors"]] == [field]
    assert_unchanged(before)


def test_update_of_an_unknown_bot_is_404(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    before = db_snapshot()
    assert_problem(
        api_client.patch(bot_url(world, MISSING_BOT), {"name": "X"}, token=world.caller.token),
        404, "bot_not_found",
    )  # fmt: skip
    assert_unchanged(before)


# --- DELETE /bots/{bot} ----------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMINISTRATOR, Role.MANAGER])
def test_roles_that_may_delete_any_bot_delete_someone_elses(
    api_client: ApiClient, role: Role
) -> None:
    world = World(role)
    developer = world.add(Role.DEVELOPER)
    bot = make_bot(world, by=developer, name="Theirs")

    response = api_client.delete(bot_url(world, bot.id), token=world.caller.token)

    assert response.status_code == 204, response.content
    assert response.content == b""
    assert not Bot.objects.filter(pk=bot.id).exists()
    assert_event(world, actor=world.caller.email, action="deleted", event="bot.deleted",
                 bot_id=bot.id, label="Theirs", details={"name": "Theirs"})  # fmt: skip


def test_a_developer_deletes_a_bot_they_created(api_client: ApiClient) -> None:
    world = World(Role.DEVELOPER)
    response = api_client.post(bots_url(world), {"name": "Mine"}, token=world.caller.token)
    bot_id = body(response)["id"]

    response = api_client.delete(bot_url(world, bot_id), token=world.caller.token)

    assert response.status_code == 204, response.content
    assert not Bot.objects.filter(pk=bot_id).exists()
    assert_event(world, actor=world.caller.email, action="deleted", event="bot.deleted",
                 bot_id=bot_id, label="Mine", details={"name": "Mine"})  # fmt: skip


@pytest.mark.parametrize("creator", ["owner", "another developer"])
def test_a_developer_may_not_delete_a_bot_someone_else_created(
    api_client: ApiClient, creator: str
) -> None:
    world = World(Role.DEVELOPER)
    by = world.owner if creator == "owner" else world.add(Role.DEVELOPER)
    bot = make_bot(world, by=by)
    before = db_snapshot()

    response = api_client.delete(bot_url(world, bot.id), token=world.caller.token)

    problem = assert_problem(response, 403, "forbidden")
    assert problem["detail"] == "Your role can delete only the bots you created."
    assert_unchanged(before)


def test_a_developer_may_not_delete_a_bot_whose_creator_account_is_gone(
    api_client: ApiClient,
) -> None:
    world = World(Role.DEVELOPER)
    gone = world.add(Role.DEVELOPER)
    bot = make_bot(world, by=gone)
    gone.user.delete()
    before = db_snapshot()
    assert_problem(api_client.delete(bot_url(world, bot.id), token=world.caller.token), 403)
    assert_unchanged(before)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.BILLING_MANAGER])
def test_roles_without_a_delete_permission_are_refused_before_the_lookup(
    api_client: ApiClient, role: Role
) -> None:
    world = World(role)
    for bot_id in (make_bot(world).id, MISSING_BOT):
        assert_problem(api_client.delete(bot_url(world, bot_id), token=world.caller.token),
                       403, "forbidden")  # fmt: skip


def test_delete_erases_versions_keys_conversations_and_stats(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    bot = world.bot
    services.bot_publish(actor=world.owner.actor, workspace_id=world.id, bot_id=bot.id)
    assert post_message(api_client, bot.id, world.key_secret, "opening hours").status_code == 200
    keep = make_bot(world, name="Keep")

    response = api_client.delete(bot_url(world, bot.id), token=world.owner.token)

    assert response.status_code == 204
    for model in (BotVersion, BotKey, Conversation, Message, DailyBotStats):
        assert not model.objects.filter(bot_id=bot.id).exists(), model
    assert list(Bot.objects.values_list("id", flat=True)) == [keep.id]


def test_delete_of_an_unknown_bot_is_404(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    before = db_snapshot()
    assert_problem(api_client.delete(bot_url(world, MISSING_BOT), token=world.caller.token),
                   404, "bot_not_found")  # fmt: skip
    assert_unchanged(before)


# --- POST /bots/{bot}/publish ----------------------------------------------------------


def test_publish_snapshots_the_draft_as_version_1_then_2(api_client: ApiClient) -> None:
    world = World(Role.DEVELOPER)
    bot = make_bot(world, name="Shop", definition=BOT_DEFINITION)

    with clock.frozen(T0):
        first = api_client.post(bot_url(world, bot.id, "/publish"), token=world.caller.token)
    assert first.status_code == 200, first.content
    assert body(first) == {"version": 1, "published_at": T0_TEXT}
    assert_event(world, actor=world.caller.email, action="published", event="bot.published",
                 bot_id=bot.id, label="Shop", details={"version": 1})  # fmt: skip

    with clock.frozen(T1):
        second = api_client.post(bot_url(world, bot.id, "/publish"), token=world.caller.token)
    assert body(second) == {"version": 2, "published_at": T1_TEXT}
    assert last_event(world).details == {"version": 2}

    versions = list(bot.versions.order_by("number").values_list("number", "published_at"))
    assert versions == [(1, T0), (2, T1)]
    bot.refresh_from_db()
    assert bot.published_version == 2
    data = body(api_client.get(bot_url(world, bot.id), token=world.caller.token))
    assert data["published_version"] == 2


def test_published_versions_are_immutable(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    bot = world.bot
    url = bot_url(world, bot.id)
    api_client.post(url + "/publish", token=world.caller.token)
    changed = edited(fallback="A new fallback.")

    response = api_client.patch(url, {"definition": changed}, token=world.caller.token)

    assert response.status_code == 200
    assert BotVersion.objects.get(bot=bot, number=1).definition == BOT_DEFINITION
    bot.refresh_from_db()
    assert (bot.definition, bot.published_version) == (changed, 1)

    api_client.post(url + "/publish", token=world.caller.token)
    stored = dict(BotVersion.objects.filter(bot=bot).values_list("number", "definition"))
    assert stored == {1: BOT_DEFINITION, 2: changed}
    exported = body(api_client.get(url + "/export", token=world.caller.token))
    assert [v["definition"] for v in exported["bot"]["versions"]] == [BOT_DEFINITION, changed]


def test_the_latest_published_version_answers_messages(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    bot, secret = world.bot, world.key_secret
    url = bot_url(world, bot.id)
    api_client.post(url + "/publish", token=world.caller.token)
    api_client.patch(url, {"definition": edited(fallback="Version two.")}, token=world.caller.token)

    def reply() -> str:
        response = post_message(api_client, bot.id, secret, "tell me a joke")
        assert response.status_code == 200, response.content
        return str(body(response)["reply"]["text"])

    assert reply() == BOT_DEFINITION["fallback"]  # the draft does not answer
    api_client.post(url + "/publish", token=world.caller.token)
    assert reply() == "Version two."


def test_publish_of_an_unknown_bot_is_404(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    before = db_snapshot()
    assert_problem(api_client.post(bot_url(world, MISSING_BOT, "/publish"),
                                   token=world.caller.token), 404, "bot_not_found")  # fmt: skip
    assert_unchanged(before)


# --- GET /bots/{bot}/export and POST /bots/import ----------------------------------------


def test_export_is_a_json_attachment_with_metadata_draft_and_versions(
    api_client: ApiClient,
) -> None:
    world = World(Role.DEVELOPER)
    with clock.frozen(T0):
        bot = make_bot(world, name="Shop", description="Sells", definition=BOT_DEFINITION)
        services.bot_publish(actor=world.owner.actor, workspace_id=world.id, bot_id=bot.id)
    draft = edited(greeting="Welcome back!")
    services.bot_update(actor=world.owner.actor, workspace_id=world.id, bot_id=bot.id,
                        definition=draft)  # fmt: skip

    with clock.frozen(T1):
        response = api_client.get(bot_url(world, bot.id, "/export"), token=world.caller.token)

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="{bot.id}.json"'
    assert body(response) == {
        "kind": "botyard.bot",
        "format": 1,
        "exported_at": T1_TEXT,
        "bot": {
            "id": bot.id,
            "name": "Shop",
            "description": "Sells",
            "created_at": T0_TEXT,
            "draft": draft,
            "versions": [{"number": 1, "published_at": T0_TEXT, "definition": BOT_DEFINITION}],
        },
    }
    assert_event(world, actor=world.caller.email, action="downloaded", event="bot.exported",
                 bot_id=bot.id, label="Shop", details={"versions": 1})  # fmt: skip


def test_export_of_an_unknown_bot_is_404_and_audits_nothing(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    before = db_snapshot()
    assert_problem(api_client.get(bot_url(world, MISSING_BOT, "/export"),
                                  token=world.caller.token), 404, "bot_not_found")  # fmt: skip
    assert_unchanged(before)


@pytest.mark.parametrize("into", ["the same workspace", "another workspace"])
def test_an_export_imports_as_a_new_bot_with_the_same_draft_and_versions(
    api_client: ApiClient, into: str
) -> None:
    source = World(Role.OWNER, name="Source")
    bot = make_bot(source, name="Shop", description="Sells", definition=BOT_DEFINITION)
    v2 = edited(fallback="Second version.")
    services.bot_publish(actor=source.owner.actor, workspace_id=source.id, bot_id=bot.id)
    services.bot_update(actor=source.owner.actor, workspace_id=source.id, bot_id=bot.id,
                        definition=v2)  # fmt: skip
    services.bot_publish(actor=source.owner.actor, workspace_id=source.id, bot_id=bot.id)
    draft = edited(greeting="Draft only.")
    services.bot_update(actor=source.owner.actor, workspace_id=source.id, bot_id=bot.id,
                        definition=draft)  # fmt: skip
    exported = api_client.get(bot_url(source, bot.id, "/export"), token=source.owner.token)
    if into == "the same workspace":
        target, importer = source, source.owner
    else:
        target = World(Role.DEVELOPER, name="Target")
        importer = target.caller

    with clock.frozen(T1):
        response = api_client.send(
            "POST", bots_url(target, "/import"), json.loads(exported.content),
            token=importer.token, REMOTE_ADDR=ADDRESS,
        )  # fmt: skip

    assert response.status_code == 201, response.content
    new = Bot.objects.get(pk=body(response)["id"])
    assert new.id != bot.id
    assert body(response) == {
        "id": new.id,
        "name": "Shop",
        "description": "Sells",
        "created_by": {"id": importer.id, "email": importer.email},
        "created_at": T1_TEXT,
        "updated_at": T1_TEXT,
        "published_version": 2,
        "definition": draft,
    }
    assert new.workspace_id == target.id
    versions = list(new.versions.order_by("number").values_list("number", "definition"))
    assert versions == [(1, BOT_DEFINITION), (2, v2)]
    assert set(new.versions.values_list("published_by_email", flat=True)) == {importer.email}
    assert_event(target, actor=importer.email, action="added", event="bot.imported",
                 bot_id=new.id, label="Shop", details={"name": "Shop", "versions": 2})  # fmt: skip
    # The source is untouched, and the copy is independent of it.
    assert bot.versions.count() == 2
    assert Bot.objects.get(pk=bot.id).definition == draft


def test_an_imported_published_bot_answers_with_its_latest_version(api_client: ApiClient) -> None:
    source = World(Role.OWNER, name="Source")
    bot = make_bot(source, definition=BOT_DEFINITION)
    services.bot_publish(actor=source.owner.actor, workspace_id=source.id, bot_id=bot.id)
    target = World(Role.OWNER, name="Target")
    response = api_client.post(bots_url(target, "/import"), export_of(source, bot),
                               token=target.owner.token)  # fmt: skip
    new_id = body(response)["id"]
    key = api_client.post(bot_url(target, new_id, "/keys"), {"name": "Web"},
                          token=target.owner.token)  # fmt: skip
    answer = post_message(api_client, new_id, body(key)["key"], "opening hours?")
    assert body(answer)["reply"] == {"text": "We are open 9 to 5, Monday to Friday."}


def test_an_export_without_versions_imports_as_an_unpublished_bot(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    document = export_of(world, make_bot(world, name="Draft only", definition=BOT_DEFINITION))
    response = api_client.post(bots_url(world, "/import"), document, token=world.owner.token)
    assert response.status_code == 201, response.content
    new = Bot.objects.get(pk=body(response)["id"])
    assert (new.published_version, new.versions.count()) == (None, 0)
    assert new.definition == BOT_DEFINITION


def _document(**bot: Any) -> dict[str, Any]:
    inner: dict[str, Any] = {"name": "Shop", "description": "", "draft": BOT_DEFINITION,
                             "versions": [{"number": 1, "definition": BOT_DEFINITION}]}  # fmt: skip
    inner.update(bot)
    return {"kind": "botyard.bot", "format": 1, "bot": inner}


def _without(key: str) -> dict[str, Any]:
    document = _document()
    del document["bot"][key]
    return document


MALFORMED = {
    "not an export": ({"name": "Shop"}, "invalid_export", "kind"),
    "another kind": ({**_document(), "kind": "botyard.workspace"}, "invalid_export", "kind"),
    "format 2": ({**_document(), "format": 2}, "invalid_export", "format"),
    "format missing": ({"kind": "botyard.bot", "bot": _document()["bot"]}, "invalid_export",
                       "format"),
    "bot missing": ({"kind": "botyard.bot", "format": 1}, "invalid_export", "bot"),
    "bot not an object": ({**_document(), "bot": ["Shop"]}, "invalid_export", "bot"),
    "name missing": (_without("name"), "invalid_export", "bot.name"),
    "name blank": (_document(name="  "), "validation_error", "bot.name"),
    "name too long": (_document(name="n" * 65), "validation_error", "bot.name"),
    "description not text": (_document(description=3), "validation_error", "bot.description"),
    "draft missing": (_without("draft"), "invalid_export", "bot.draft"),
    "draft not an object": (_document(draft="hi"), "invalid_export", "bot.draft"),
    "draft invalid": (_document(draft={"format": 1}), "invalid_definition", "bot.draft.fallback"),
    "versions missing": (_without("versions"), "invalid_export", "bot.versions"),
    "versions not a list": (_document(versions={"1": {}}), "invalid_export", "bot.versions"),
    "version without a definition": (_document(versions=[{"number": 1}]), "invalid_definition",
                                     "bot.versions[0].definition"),
    "version a number": (_document(versions=[2]), "invalid_export", "bot.versions[0]"),
    "version invalid": (
        _document(versions=[{"definition": BOT_DEFINITION}, {"definition": edited(format=2)}]),
        "invalid_definition", "bot.versions[1].definition.format"),
}  # fmt: skip


@pytest.mark.parametrize(("document", "code", "field"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_import_is_400_with_a_clear_code_and_creates_nothing(
    api_client: ApiClient, document: Any, code: str, field: str
) -> None:
    world = World(Role.OWNER)
    before = db_snapshot()

    response = api_client.post(bots_url(world, "/import"), document, token=world.caller.token)

    problem = assert_problem(response, 400, code)
    assert problem["errors"][0]["field"] == field
    assert problem["detail"]
    assert_unchanged(before)


@pytest.mark.parametrize("payload", [[], "text", 5, None], ids=repr)
def test_an_import_body_that_is_not_an_object_is_refused(
    api_client: ApiClient, payload: Any
) -> None:
    world = World(Role.OWNER)
    before = db_snapshot()
    response = api_client.post(bots_url(world, "/import"), payload, token=world.caller.token)
    assert_problem(response, 400)
    assert_unchanged(before)


def test_an_import_body_that_is_not_json_is_refused(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    before = db_snapshot()
    response = api_client.django.post(
        bots_url(world, "/import"), '{"kind": "botyard.bot", ', content_type="application/json",
        headers={"Authorization": f"Bearer {world.caller.token}"},
    )  # fmt: skip
    assert_problem(response, 400, "malformed_json")
    assert_unchanged(before)


# --- keys ------------------------------------------------------------------------------


def test_a_key_is_shown_once_and_only_its_digest_is_stored(api_client: ApiClient) -> None:
    world = World(Role.DEVELOPER)
    bot = world.bot

    with clock.frozen(T0):
        response = api_client.post(bot_url(world, bot.id, "/keys"), {"name": " Website "},
                                   token=world.caller.token)  # fmt: skip

    assert response.status_code == 201, response.content
    created = body(response)
    secret = created["key"]
    key = BotKey.objects.get()
    assert created == {
        "id": key.id,
        "name": "Website",
        "prefix": secret[:10],
        "created_at": T0_TEXT,
        "last_used_at": None,
        "key": secret,
    }
    assert key.id.startswith("key_") and secret.startswith("byk_") and len(secret) >= 40
    assert (key.bot_id, key.name, key.prefix) == (bot.id, "Website", secret[:10])
    assert key.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert rows_mentioning(secret) == []  # no column of any table holds the secret
    assert rows_mentioning(secret[10:]) == []  # nor the part after the prefix
    assert_event(world, actor=world.caller.email, action="updated", event="bot.key_created",
                 bot_id=bot.id, label="Helper",
                 details={"key_id": key.id, "key_name": "Website"})  # fmt: skip

    listed = api_client.get(bot_url(world, bot.id, "/keys"), token=world.caller.token)
    assert body(listed) == {
        "items": [{"id": key.id, "name": "Website", "prefix": secret[:10],
                   "created_at": T0_TEXT, "last_used_at": None}],
        "next_cursor": None,
    }  # fmt: skip
    assert secret not in listed.content.decode()
    shown = api_client.get(bot_url(world, bot.id), token=world.caller.token)
    assert secret not in shown.content.decode()


def test_two_keys_are_different_secrets(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    url = bot_url(world, world.bot.id, "/keys")
    with clock.frozen(T0):
        one = body(api_client.post(url, {"name": "One"}, token=world.caller.token))
    with clock.frozen(T1):
        two = body(api_client.post(url, {"name": "Two"}, token=world.caller.token))
    assert one["key"] != two["key"] and one["id"] != two["id"]
    listed = body(api_client.get(url, token=world.caller.token))["items"]
    assert [k["name"] for k in listed] == ["One", "Two"]


def test_the_key_list_shows_when_a_key_was_last_used(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    bot = world.bot
    services.bot_publish(actor=world.owner.actor, workspace_id=world.id, bot_id=bot.id)
    with clock.frozen(T1):
        assert post_message(api_client, bot.id, world.key_secret, "prices").status_code == 200
    listed = body(api_client.get(bot_url(world, bot.id, "/keys"), token=world.caller.token))
    assert [k["last_used_at"] for k in listed["items"]] == [T1_TEXT]


def test_a_revoked_key_stops_authenticating(api_client: ApiClient) -> None:
    world = World(Role.DEVELOPER)
    bot = world.bot
    services.bot_publish(actor=world.owner.actor, workspace_id=world.id, bot_id=bot.id)
    secret = body(api_client.post(bot_url(world, bot.id, "/keys"), {"name": "Web"},
                                  token=world.caller.token))["key"]  # fmt: skip
    assert post_message(api_client, bot.id, secret, "opening hours").status_code == 200
    key = BotKey.objects.get(bot=bot, name="Web")

    response = api_client.delete(bot_url(world, bot.id, f"/keys/{key.id}"),
                                 token=world.caller.token)  # fmt: skip

    assert response.status_code == 204, response.content
    assert response.content == b""
    assert not BotKey.objects.filter(pk=key.id).exists()
    assert_event(world, actor=world.caller.email, action="updated", event="bot.key_revoked",
                 bot_id=bot.id, label="Helper",
                 details={"key_id": key.id, "key_name": "Web"})  # fmt: skip
    messages = Message.objects.count()
    refused = post_message(api_client, bot.id, secret, "opening hours")
    assert_problem(refused, 401, "invalid_bot_key")
    assert Message.objects.count() == messages
    # The bot's other key still works.
    assert post_message(api_client, bot.id, world.key_secret, "prices").status_code == 200


@pytest.mark.parametrize("name", ["", "  ", "n" * 65, "tab\there", None])
def test_a_key_needs_a_name(api_client: ApiClient, name: Any) -> None:
    world = World(Role.OWNER)
    bot = world.bot
    before = db_snapshot()
    response = api_client.post(bot_url(world, bot.id, "/keys"), {"name": name},
                               token=world.caller.token)  # fmt: skip
    problem = assert_problem(response, 400, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["name"]
    assert_unchanged(before)


def test_keys_of_an_unknown_bot_are_404(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    before = db_snapshot()
    token = world.caller.token
    for response in (
        api_client.get(bot_url(world, MISSING_BOT, "/keys"), token=token),
        api_client.post(bot_url(world, MISSING_BOT, "/keys"), {"name": "Web"}, token=token),
        api_client.delete(bot_url(world, MISSING_BOT, "/keys/key_0000"), token=token),
    ):
        assert_problem(response, 404, "bot_not_found")
    assert_unchanged(before)


def test_revoking_an_unknown_key_or_a_key_of_another_bot_is_404(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    other = make_bot(world, name="Other")
    key = world.key  # a key of world.bot
    before = db_snapshot()
    for url in (bot_url(world, world.bot.id, "/keys/key_0000000000missing"),
                bot_url(world, other.id, f"/keys/{key.id}")):  # fmt: skip
        assert_problem(api_client.delete(url, token=world.caller.token), 404, "key_not_found")
    assert_unchanged(before)


def test_the_key_list_of_a_bot_shows_only_its_keys(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    key = world.key
    other = make_bot(world, name="Other")
    services.bot_key_create(actor=world.owner.actor, workspace_id=world.id, bot_id=other.id,
                            name="Other key")  # fmt: skip
    listed = body(api_client.get(bot_url(world, world.bot.id, "/keys"), token=world.caller.token))
    assert [k["id"] for k in listed["items"]] == [key.id]


# --- GET /bots/{bot}/analytics ---------------------------------------------------------


def test_analytics_default_to_the_last_30_days_with_zeros(api_client: ApiClient) -> None:
    world = World(Role.VIEWER)
    bot = world.bot
    with clock.frozen(T1):
        response = api_client.get(bot_url(world, bot.id, "/analytics"), token=world.caller.token)
    days = body(response)["days"]
    assert response.status_code == 200
    assert len(days) == 30
    assert days[0] == {"date": "2026-02-01", "messages": 0, "conversations": 0}
    assert days[-1] == {"date": "2026-03-02", "messages": 0, "conversations": 0}


def test_analytics_count_messages_and_conversations_per_day(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    bot = world.bot
    services.bot_publish(actor=world.owner.actor, workspace_id=world.id, bot_id=bot.id)
    url = f"/api/v1/bots/{bot.id}/messages"
    with clock.frozen(T0):
        first = body(api_client.post(url, {"user_id": "u1", "text": "hi"}, token=world.key_secret))
        api_client.post(url, {"user_id": "u1", "text": "prices", "conversation_id":
                              first["conversation_id"]}, token=world.key_secret)  # fmt: skip
        api_client.post(url, {"user_id": "u2", "text": "hours"}, token=world.key_secret)
    with clock.frozen(T1):
        api_client.post(url, {"user_id": "u3", "text": "hours"}, token=world.key_secret)
    # Another bot's messages do not mix in.
    other = make_bot(world, name="Other", definition=BOT_DEFINITION)
    services.bot_publish(actor=world.owner.actor, workspace_id=world.id, bot_id=other.id)
    _, other_secret = services.bot_key_create(
        actor=world.owner.actor, workspace_id=world.id, bot_id=other.id, name="Web"
    )
    with clock.frozen(T0):
        assert post_message(api_client, other.id, other_secret, "hours").status_code == 200

    response = api_client.get(bot_url(world, bot.id, "/analytics"),
                              {"since": "2026-02-28", "until": "2026-03-03"},
                              token=world.caller.token)  # fmt: skip

    assert body(response) == {
        "days": [
            {"date": "2026-02-28", "messages": 0, "conversations": 0},
            {"date": "2026-03-01", "messages": 3, "conversations": 2},
            {"date": "2026-03-02", "messages": 1, "conversations": 1},
            {"date": "2026-03-03", "messages": 0, "conversations": 0},
        ]
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [({"since": "2026-03-02", "until": "2026-03-01"}, "since"),
     ({"since": "2025-01-01", "until": "2026-01-02"}, "since"),
     ({"since": "yesterday"}, "since"), ({"until": "2026-02-30"}, "until")],
)  # fmt: skip
def test_analytics_refuse_a_bad_range(
    api_client: ApiClient, query: dict[str, str], field: str
) -> None:
    world = World(Role.OWNER)
    response = api_client.get(bot_url(world, world.bot.id, "/analytics"), query,
                              token=world.caller.token)  # fmt: skip
    problem = assert_problem(response, 400)
    assert [e["field"] for e in problem["errors"]] == [field]


def test_a_range_of_366_days_is_accepted(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    response = api_client.get(bot_url(world, world.bot.id, "/analytics"),
                              {"since": "2025-01-01", "until": "2026-01-01"},
                              token=world.caller.token)  # fmt: skip
    days = body(response)["days"]
    assert (len(days), days[0]["date"], days[-1]["date"]) == (366, "2025-01-01", "2026-01-01")


# --- tenants ---------------------------------------------------------------------------


def test_a_bot_of_another_workspace_is_not_found_through_mine(api_client: ApiClient) -> None:
    mine = World(Role.OWNER, name="Mine")
    theirs = World(Role.OWNER, name="Theirs")
    their_bot, their_key = theirs.bot, theirs.key
    make_bot(mine, name="My bot")
    before = db_snapshot()
    token = mine.owner.token

    def url(suffix: str = "") -> str:
        return bot_url(mine, their_bot.id, suffix)

    answers = [
        api_client.get(url(), token=token),
        api_client.patch(url(), {"name": "Stolen"}, token=token),
        api_client.delete(url(), token=token),
        api_client.post(url("/publish"), token=token),
        api_client.get(url("/export"), token=token),
        api_client.get(url("/keys"), token=token),
        api_client.post(url("/keys"), {"name": "Mine now"}, token=token),
        api_client.delete(url(f"/keys/{their_key.id}"), token=token),
        api_client.get(url("/analytics"), token=token),
    ]
    for response in answers:
        problem = assert_problem(response, 404, "bot_not_found")
        assert "Theirs" not in json.dumps(problem) and "Helper" not in json.dumps(problem)
    listed = body(api_client.get(bots_url(mine), token=token))
    assert [b["name"] for b in listed["items"]] == ["My bot"]
    assert_unchanged(before)


def test_a_key_of_another_workspace_is_not_revoked_through_my_bot(api_client: ApiClient) -> None:
    mine = World(Role.OWNER, name="Mine")
    theirs = World(Role.OWNER, name="Theirs")
    my_bot, their_key = mine.bot, theirs.key
    before = db_snapshot()
    response = api_client.delete(bot_url(mine, my_bot.id, f"/keys/{their_key.id}"),
                                 token=mine.owner.token)  # fmt: skip
    assert_problem(response, 404, "key_not_found")
    assert_unchanged(before)


BOT_OPERATIONS = [op for op in OPERATIONS if "/bots" in op.path]


@pytest.mark.parametrize("role", list(Role))
def test_a_collaborator_of_another_workspace_learns_nothing_of_its_bots(
    api_client: ApiClient, role: Role
) -> None:
    a = World(role, name="Alpha")
    b = World(Role.OWNER, name="Bravo")
    requests = [op.request(b) for op in BOT_OPERATIONS]
    before = db_snapshot()

    for request in requests:
        problem = assert_problem(request.send(api_client, token=a.caller.token), 404,
                                 "workspace_not_found")  # fmt: skip
        assert "Bravo" not in json.dumps(problem) and "Helper" not in json.dumps(problem)

    assert_unchanged(before)


def test_the_import_route_is_not_a_bot_id(api_client: ApiClient) -> None:
    # …/bots/import is the import route for every method: GET does not look up a bot.
    world = World(Role.OWNER)
    response = api_client.get(bots_url(world, "/import"), token=world.caller.token)
    assert_problem(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"
