"""The Workspaces and Collaborators sections of api.md, and the rules of product.md §2 and §3,
through the HTTP API: each status and code, what changed in the database and what did not.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from botyard.audit.models import AuditEvent
from botyard.billing.models import PaymentMethod
from botyard.bots import services as bot_services
from botyard.bots.models import Bot
from botyard.core import clock
from botyard.messaging import services as message_services
from botyard.workspaces import services, tasks
from botyard.workspaces.models import (
    Invitation,
    InvitationStatus,
    Membership,
    Workspace,
    WorkspaceTombstone,
)
from botyard.workspaces.roles import ASSIGNABLE_ROLES, Role
from tests.helpers import ApiClient, assert_problem
from tests.workspaces.operations import OPERATIONS
from tests.workspaces.world import (
    PASSWORD,
    World,
    assert_unchanged,
    db_snapshot,
    join,
    person,
    rows_mentioning,
    token_of,
    workspace_foreign_keys,
)

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
T0_TEXT = "2026-03-01T09:30:00Z"
WORKSPACES = "/api/v1/workspaces"
ACCEPT = "/api/v1/invitations/accept"
MY_INVITATIONS = "/api/v1/me/invitations"
LINK = re.compile(r"/invitations/accept\?token=([0-9a-f]+)")

Capture = Callable[..., Any]


def body(response: Any) -> Any:
    return json.loads(response.content)


def ws_url(world: World, suffix: str = "") -> str:
    return f"{WORKSPACES}/{world.id}{suffix}"


def last_event(world: World) -> AuditEvent:
    return AuditEvent.objects.filter(workspace_id=world.id).latest("seq")


def invite(
    client: ApiClient, world: World, capture: Capture, email: str, role: str = "viewer"
) -> tuple[dict[str, Any], str]:
    """Invite through the API as the owner, let the transaction's email go out, and return
    the invitation and the token of the link in the email."""
    sent = len(mail.outbox)
    with capture(execute=True):
        response = client.post(
            ws_url(world, "/invitations"), {"email": email, "role": role}, token=world.owner.token
        )
    assert response.status_code == 201, response.content
    assert len(mail.outbox) == sent + 1
    match = LINK.search(mail.outbox[-1].body)
    assert match is not None, mail.outbox[-1].body
    return body(response), match.group(1)


# --- POST /workspaces -------------------------------------------------------------------


def test_create_defaults_to_community_and_makes_the_creator_owner(api_client: ApiClient) -> None:
    ada = person(name="Ada Lovelace")
    with clock.frozen(T0):
        response = api_client.post(WORKSPACES, {"name": "  Analytical Engine \t"}, token=ada.token)

    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/json; charset=utf-8"
    workspace = Workspace.objects.get()
    assert body(response) == {
        "id": workspace.id,
        "name": "Analytical Engine",
        "owner": {"id": ada.id, "email": ada.email, "name": "Ada Lovelace"},
        "plan": "community",
        "my_role": "owner",
        "bot_count": 0,
        "bot_limit": 5,
        "created_at": T0_TEXT,
    }
    assert workspace.id.startswith("ws_")
    assert (workspace.name, workspace.owner_id, workspace.plan) == (
        "Analytical Engine",
        ada.id,
        "community",
    )
    assert workspace.created_at == workspace.plan_started_at == T0
    assert list(Membership.objects.values_list("user_id", "role")) == [(ada.id, "owner")]
    assert not PaymentMethod.objects.exists()


def test_a_name_of_64_characters_is_accepted(api_client: ApiClient) -> None:
    ada = person()
    response = api_client.post(WORKSPACES, {"name": "n" * 64}, token=ada.token)
    assert response.status_code == 201
    assert Workspace.objects.get().name == "n" * 64


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "\t\n",
        "n" * 65,
        " " + "n" * 65 + " ",
        "bad\x00name",
        "bad\nname",
        "bad\x1bname",
        "bad\x7fname",
        "zero\u200bwidth",
        "bidi\u202eoverride",
    ],
    ids=repr,
)
def test_create_refuses_a_bad_name_with_a_field_error(api_client: ApiClient, name: str) -> None:
    ada = person()
    before = db_snapshot()

    response = api_client.post(WORKSPACES, {"name": name}, token=ada.token)

    problem = assert_problem(response, 400, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["name"]
    assert_unchanged(before)


@pytest.mark.parametrize("payload", [{}, {"name": None}, {"name": 7}, {"name": ["x"]}])
def test_create_refuses_a_missing_or_mistyped_name(
    api_client: ApiClient, payload: dict[str, Any]
) -> None:
    ada = person()
    response = api_client.post(WORKSPACES, payload, token=ada.token)
    problem = assert_problem(response, 400)
    assert problem["errors"][0]["field"] == "name"
    assert not Workspace.objects.exists()


def test_a_second_community_workspace_is_refused_with_the_way_forward(
    api_client: ApiClient,
) -> None:
    ada = person()
    assert api_client.post(WORKSPACES, {"name": "First"}, token=ada.token).status_code == 201
    before = db_snapshot()

    response = api_client.post(WORKSPACES, {"name": "Second", "plan": "community"}, token=ada.token)

    problem = assert_problem(response, 409, "workspace_limit_reached")
    assert "Business" in problem["detail"]
    assert "payment method" in problem["detail"]
    assert_unchanged(before)
    assert list(Workspace.objects.values_list("name", flat=True)) == ["First"]


def test_being_a_collaborator_elsewhere_does_not_count_towards_the_limit(
    api_client: ApiClient,
) -> None:
    world = World(Role.ADMINISTRATOR)
    response = api_client.post(WORKSPACES, {"name": "Mine"}, token=world.caller.token)
    assert response.status_code == 201


def test_business_without_a_payment_method_is_refused(api_client: ApiClient) -> None:
    ada = person()
    before = db_snapshot()
    response = api_client.post(WORKSPACES, {"name": "Biz", "plan": "business"}, token=ada.token)
    assert_problem(response, 409, "payment_method_required")
    assert_unchanged(before)


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("pm_card_chargeDeclined", "card_declined"),
        ("pm_card_chargeDeclinedExpiredCard", "card_declined"),
        ("pm_card_doesNotExist", "invalid_payment_method"),
        ("4242424242424242", "invalid_payment_method"),
    ],
)
def test_business_with_a_bad_card_is_refused(api_client: ApiClient, token: str, code: str) -> None:
    ada = person()
    before = db_snapshot()
    response = api_client.post(
        WORKSPACES, {"name": "Biz", "plan": "business", "payment_method": token}, token=ada.token
    )
    problem = assert_problem(response, 400, code)
    assert problem["errors"][0]["field"] == "payment_method"
    assert_unchanged(before)


def test_business_with_a_valid_card_stores_only_what_may_be_shown(api_client: ApiClient) -> None:
    ada = person()
    # A Business workspace is allowed next to an owned Community one.
    assert api_client.post(WORKSPACES, {"name": "Free"}, token=ada.token).status_code == 201

    response = api_client.post(
        WORKSPACES,
        {"name": "Biz", "plan": "business", "payment_method": "pm_card_visa"},
        token=ada.token,
    )

    assert response.status_code == 201, response.content
    data = body(response)
    assert (data["plan"], data["bot_limit"], data["my_role"]) == ("business", 10, "owner")
    assert "payment_method" not in data
    card = PaymentMethod.objects.get(workspace_id=data["id"])
    assert (card.brand, card.last4, card.gateway_token) == ("visa", "4242", "pm_card_visa")
    assert {f.name for f in PaymentMethod._meta.concrete_fields} == {
        "id", "workspace", "gateway_token", "brand", "last4", "exp_month", "exp_year", "added_at",
    }  # fmt: skip
    # Several Business workspaces: no limit.
    again = api_client.post(
        WORKSPACES,
        {"name": "Biz 2", "plan": "business", "payment_method": "pm_card_mastercard"},
        token=ada.token,
    )
    assert again.status_code == 201


@pytest.mark.parametrize("plan", ["enterprise", "free", "", "COMMUNITY"])
def test_create_refuses_a_plan_that_is_not_self_serve(api_client: ApiClient, plan: str) -> None:
    ada = person()
    response = api_client.post(
        WORKSPACES, {"name": "X", "plan": plan, "payment_method": "pm_card_visa"}, token=ada.token
    )
    problem = assert_problem(response, 400, "invalid_plan")
    assert problem["errors"][0]["field"] == "plan"
    assert not Workspace.objects.exists()


# --- GET /workspaces --------------------------------------------------------------------


def test_list_shows_the_workspaces_i_collaborate_in_with_my_role(api_client: ApiClient) -> None:
    me = person()
    mine = services.workspace_create(actor=me.actor, name="Mine")
    as_developer = World(Role.OWNER, name="Dev shop")
    as_viewer = World(Role.OWNER, name="Gallery")
    as_developer.collaborator
    join(as_developer.workspace, by=as_developer.owner, who=me, role=Role.DEVELOPER)
    join(as_viewer.workspace, by=as_viewer.owner, who=me, role=Role.VIEWER)
    World(Role.OWNER, name="Not mine")

    response = api_client.get(WORKSPACES, token=me.token)

    assert response.status_code == 200
    data = body(response)
    assert data["next_cursor"] is None
    assert [(w["id"], w["name"], w["my_role"]) for w in data["items"]] == [
        (mine.id, "Mine", "owner"),
        (as_developer.id, "Dev shop", "developer"),
        (as_viewer.id, "Gallery", "viewer"),
    ]
    assert data["items"][1]["owner"] == {
        "id": as_developer.owner.id,
        "email": as_developer.owner.email,
        "name": as_developer.owner.user.name,
    }


def test_list_pages_with_a_cursor(api_client: ApiClient) -> None:
    me = person()
    ids = []
    for n in range(5):
        with clock.frozen(T0 + dt.timedelta(minutes=n)):
            world = World(Role.OWNER, name=f"W{n}")
            join(world.workspace, by=world.owner, who=me, role=Role.MANAGER)
        ids.append(world.id)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        data = body(api_client.get(WORKSPACES, query, token=me.token))
        pages += 1
        seen += [w["id"] for w in data["items"]]
        assert all(w["my_role"] == "manager" for w in data["items"])
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert (pages, seen) == (3, ids)


@pytest.mark.parametrize(
    ("query", "field"),
    [({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"cursor": "not-a-cursor"}, "cursor")],
)
def test_list_refuses_a_bad_limit_or_cursor(
    api_client: ApiClient, query: dict[str, Any], field: str
) -> None:
    me = person()
    problem = assert_problem(api_client.get(WORKSPACES, query, token=me.token), 400)
    assert problem["errors"][0]["field"] == field


def test_list_counts_bots_and_does_not_grow_queries_with_rows(api_client: ApiClient) -> None:
    me = person()
    world = World(Role.OWNER)
    join(world.workspace, by=world.owner, who=me, role=Role.VIEWER)
    api_client.get(WORKSPACES, token=me.token)  # the token's first use is recorded once
    with CaptureQueriesContext(connection) as one:
        api_client.get(WORKSPACES, token=me.token)
    for n in range(4):
        other = World(Role.OWNER, name=f"Other {n}")
        join(other.workspace, by=other.owner, who=me, role=Role.VIEWER)
        Bot.objects.create(workspace=other.workspace, name=f"Bot {n}", created_by_email="x@e.com")
    Bot.objects.create(workspace=other.workspace, name="Second", created_by_email="x@e.com")
    with CaptureQueriesContext(connection) as five:
        data = body(api_client.get(WORKSPACES, token=me.token))
    assert len(five.captured_queries) == len(one.captured_queries)
    assert [w["bot_count"] for w in data["items"]] == [0, 1, 1, 1, 2]


# --- GET /workspaces/{ws} ---------------------------------------------------------------


def test_get_answers_exactly_the_documented_shape(api_client: ApiClient) -> None:
    with clock.frozen(T0):
        world = World(Role.DEVELOPER, name="Acme")
    Bot.objects.create(workspace=world.workspace, name="Helper", created_by_email="a@example.com")

    response = api_client.get(ws_url(world), token=world.caller.token)

    assert response.status_code == 200
    assert body(response) == {
        "id": world.id,
        "name": "Acme",
        "owner": {"id": world.owner.id, "email": world.owner.email, "name": "Olive Owner"},
        "plan": "community",
        "my_role": "developer",
        "bot_count": 1,
        "bot_limit": 5,
        "created_at": T0_TEXT,
    }


def test_enterprise_terms_set_by_staff_show_as_the_bot_limit(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    Workspace.objects.filter(pk=world.id).update(plan="enterprise", custom_bot_limit=120)
    data = body(api_client.get(ws_url(world), token=world.caller.token))
    assert (data["plan"], data["bot_limit"]) == ("enterprise", 120)


# --- PATCH /workspaces/{ws} -------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMINISTRATOR])
def test_rename_trims_saves_and_audits_before_and_after(api_client: ApiClient, role: Role) -> None:
    world = World(role, name="Acme")

    response = api_client.patch(ws_url(world), {"name": "  Acme Labs "}, token=world.caller.token)

    assert response.status_code == 200, response.content
    assert body(response)["name"] == "Acme Labs"
    assert body(response)["my_role"] == role.value
    assert world.refresh().name == "Acme Labs"
    event = last_event(world)
    assert (event.action, event.target_type, event.event) == (
        "updated",
        "configuration",
        "workspace.renamed",
    )
    assert (event.target_id, event.target_label) == (world.id, "Acme Labs")
    assert event.details == {"before": "Acme", "after": "Acme Labs"}
    assert event.actor_email == world.caller.email
    assert event.ip == "127.0.0.1"


def test_renaming_to_the_same_name_changes_nothing(api_client: ApiClient) -> None:
    world = World(Role.OWNER, name="Acme")
    before = db_snapshot()
    response = api_client.patch(ws_url(world), {"name": " Acme "}, token=world.caller.token)
    assert response.status_code == 200
    assert_unchanged(before)


@pytest.mark.parametrize("name", ["", "  ", "n" * 65, "tab\there", "nul\x00"], ids=repr)
def test_rename_refuses_a_bad_name(api_client: ApiClient, name: str) -> None:
    world = World(Role.OWNER, name="Acme")
    before = db_snapshot()
    response = api_client.patch(ws_url(world), {"name": name}, token=world.caller.token)
    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"][0]["field"] == "name"
    assert_unchanged(before)


# --- DELETE /workspaces/{ws} ------------------------------------------------------------


SECRET_BOT_CONTENT = ["Secret Bot", "a description nobody may keep", "the-greeting-is-bot-content",
                      "a message only the bot saw"]  # fmt: skip


def _populate(world: World) -> None:
    """Something of every kind a workspace owns: collaborators, an invitation, bots with
    versions and keys, conversations, messages, usage and analytics, audit events."""
    world.collaborator
    world.invitation
    owner = world.owner.actor
    definition = {
        "format": 1,
        "greeting": "the-greeting-is-bot-content",
        "fallback": "Sorry?",
        "intents": [],
    }
    bot = bot_services.bot_create(
        actor=owner, workspace_id=world.id, name="Secret Bot",
        description="a description nobody may keep", definition=definition,
    )  # fmt: skip
    bot_services.bot_publish(actor=owner, workspace_id=world.id, bot_id=bot.id)
    _, secret = bot_services.bot_key_create(
        actor=owner, workspace_id=world.id, bot_id=bot.id, name="web"
    )
    message_services.message_ingest(
        bot_id=bot.id,
        secret=secret,
        message=message_services.IncomingMessage(
            user_id="end-user-1", text="a message only the bot saw"
        ),
    )
    bot_services.bot_create(actor=owner, workspace_id=world.id, name="Second")


@pytest.mark.parametrize("via", ["body", "query"])
def test_delete_needs_the_exact_name_typed(api_client: ApiClient, via: str) -> None:
    world = World(Role.OWNER, name="Acme")
    _populate(world)
    before = db_snapshot()

    for typed in ["acme", "Acm", "", "Acme!"]:
        if via == "body":
            response = api_client.delete(ws_url(world), {"confirm": typed}, token=world.owner.token)
        else:
            response = api_client.delete(
                ws_url(world) + f"?confirm={typed}", token=world.owner.token
            )
        problem = assert_problem(response, 409, "confirmation_mismatch")
        assert problem["errors"] == [{"field": "confirm", "message": mock.ANY}]
    no_confirmation = api_client.delete(ws_url(world), token=world.owner.token)
    assert_problem(no_confirmation, 409, "confirmation_mismatch")

    assert_unchanged(before)


@pytest.mark.parametrize("via", ["body", "query"])
def test_delete_erases_everything_and_keeps_a_tombstone(api_client: ApiClient, via: str) -> None:
    world = World(Role.OWNER, name="Acme Corp", plan="business")
    _populate(world)
    other = World(Role.OWNER, name="Untouched")
    other.collaborator
    expected_counts = {
        model._meta.model_name: model._default_manager.filter(**{field.attname: world.id}).count()
        for model, field in workspace_foreign_keys()
    }
    expected_counts = {k: n for k, n in expected_counts.items() if n} | {"workspace": 1}
    assert {
        "membership", "invitation", "bot", "auditevent", "auditchainhead", "paymentmethod",
        "conversation", "message", "usagecounter", "dailybotstats",
    } <= set(expected_counts)  # fmt: skip
    others_before = {
        model._meta.label: model._default_manager.exclude(**{field.attname: world.id}).count()
        for model, field in workspace_foreign_keys()
    }

    with clock.frozen(T0 + dt.timedelta(days=3)):
        if via == "body":
            response = api_client.delete(
                ws_url(world), {"confirm": " Acme Corp "}, token=world.owner.token
            )
        else:
            response = api_client.delete(
                ws_url(world) + "?confirm=Acme%20Corp", token=world.owner.token
            )

    assert response.status_code == 204, response.content
    assert response.content == b""
    assert rows_mentioning(world.id, exclude=frozenset({"workspaces.workspacetombstone"})) == []
    tombstone = WorkspaceTombstone.objects.get()
    assert (tombstone.workspace_id, tombstone.name, tombstone.owner_email) == (
        world.id,
        "Acme Corp",
        world.owner.email,
    )
    assert tombstone.deleted_at == T0 + dt.timedelta(days=3)
    for kind, count in expected_counts.items():
        assert tombstone.erased_counts[kind] == count, (kind, tombstone.erased_counts)
    assert tombstone.erased_counts["botversion"] == 1
    assert tombstone.erased_counts["botkey"] == 1
    stored = json.dumps([tombstone.name, tombstone.owner_email, tombstone.erased_counts])
    for content in SECRET_BOT_CONTENT:
        assert content not in stored
    # The other workspace, and the people, are untouched.
    assert others_before == {
        model._meta.label: model._default_manager.count() for model, _ in workspace_foreign_keys()
    }
    assert api_client.get(ws_url(other), token=other.owner.token).status_code == 200
    assert api_client.get("/api/v1/me", token=world.collaborator.token).status_code == 200
    # The workspace is gone for its former collaborators too.
    assert_problem(
        api_client.get(ws_url(world), token=world.owner.token), 404, "workspace_not_found"
    )
    assert body(api_client.get(WORKSPACES, token=world.collaborator.token))["items"] == []


def test_delete_is_all_or_nothing(api_client: ApiClient) -> None:
    world = World(Role.OWNER, name="Acme")
    _populate(world)
    before = db_snapshot()

    with (
        mock.patch.object(
            WorkspaceTombstone.objects, "create", side_effect=IntegrityError("disk full")
        ),
        pytest.raises(IntegrityError),
    ):
        services.workspace_delete(actor=world.owner.actor, workspace_id=world.id, confirm="Acme")

    assert_unchanged(before)


def test_the_former_owner_may_create_a_community_workspace_again(api_client: ApiClient) -> None:
    world = World(Role.OWNER, name="Acme")
    deleted = api_client.delete(ws_url(world), {"confirm": "Acme"}, token=world.owner.token)
    assert deleted.status_code == 204
    response = api_client.post(WORKSPACES, {"name": "Fresh start"}, token=world.owner.token)
    assert response.status_code == 201


# --- POST /workspaces/{ws}/leave --------------------------------------------------------


@pytest.mark.parametrize("role", list(ASSIGNABLE_ROLES))
def test_a_collaborator_leaves(api_client: ApiClient, role: Role) -> None:
    world = World(role)
    response = api_client.post(ws_url(world, "/leave"), token=world.caller.token)

    assert response.status_code == 204
    assert not Membership.objects.filter(workspace_id=world.id, user_id=world.caller.id).exists()
    event = last_event(world)
    assert (event.action, event.target_type, event.event) == (
        "removed",
        "collaborator",
        "collaborator.left",
    )
    assert (event.target_id, event.target_label, event.details) == (
        world.caller.id,
        world.caller.email,
        {"role": role.value},
    )
    assert_problem(
        api_client.get(ws_url(world), token=world.caller.token), 404, "workspace_not_found"
    )


def test_the_owner_cannot_leave(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    before = db_snapshot()
    problem = assert_problem(
        api_client.post(ws_url(world, "/leave"), token=world.owner.token), 409, "owner_cannot_leave"
    )
    assert "Transfer" in problem["detail"]
    assert_unchanged(before)


# --- POST /workspaces/{ws}/transfer -----------------------------------------------------


def test_transfer_makes_the_collaborator_owner_and_the_owner_administrator(
    api_client: ApiClient,
) -> None:
    world = World(Role.OWNER, name="Acme")
    heir = world.add(Role.DEVELOPER, name="Hal Heir")

    response = api_client.post(
        ws_url(world, "/transfer"),
        {"email": heir.email.upper(), "password": PASSWORD},
        token=world.owner.token,
    )

    assert response.status_code == 200, response.content
    data = body(response)
    assert data["owner"] == {"id": heir.id, "email": heir.email, "name": "Hal Heir"}
    assert data["my_role"] == "administrator"
    assert world.refresh().owner_id == heir.id
    roles = dict(Membership.objects.filter(workspace_id=world.id).values_list("user_id", "role"))
    assert roles == {world.owner.id: "administrator", heir.id: "owner"}
    event = last_event(world)
    assert (event.action, event.target_type, event.event) == (
        "updated",
        "configuration",
        "workspace.ownership_transferred",
    )
    assert event.details == {
        "before": world.owner.email,
        "after": heir.email,
        "new_owner_previous_role": "developer",
    }
    assert PASSWORD not in json.dumps(event.details)
    # The new owner now holds the owner's rights, the old one an administrator's.
    assert_problem(
        api_client.post(ws_url(world, "/leave"), token=heir.token), 409, "owner_cannot_leave"
    )
    assert_problem(
        api_client.delete(ws_url(world), {"confirm": "Acme"}, token=world.owner.token),
        403,
        "forbidden",
    )
    assert api_client.get(ws_url(world), token=heir.token).json()["my_role"] == "owner"


def test_transfer_with_a_wrong_password_is_refused(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    world.collaborator
    before = db_snapshot()
    response = api_client.post(
        ws_url(world, "/transfer"),
        {"email": world.collaborator.email, "password": "not-my-password"},
        token=world.owner.token,
    )
    problem = assert_problem(response, 403, "password_incorrect")
    assert problem["errors"][0]["field"] == "password"
    assert_unchanged(before)


@pytest.mark.parametrize("who", ["stranger", "nobody", "self", "invitee"])
def test_transfer_to_someone_who_is_not_a_collaborator_is_refused(
    api_client: ApiClient, who: str
) -> None:
    world = World(Role.OWNER)
    stranger = person()
    email = {
        "stranger": stranger.email,
        "nobody": "nobody@example.com",
        "self": world.owner.email,
        "invitee": world.invitation.email,
    }[who]
    before = db_snapshot()
    response = api_client.post(
        ws_url(world, "/transfer"), {"email": email, "password": PASSWORD}, token=world.owner.token
    )
    problem = assert_problem(response, 400, "not_a_collaborator")
    assert problem["errors"][0]["field"] == "email"
    assert_unchanged(before)


def test_transfer_is_refused_when_the_new_owner_would_own_too_many_community_workspaces(
    api_client: ApiClient,
) -> None:
    world = World(Role.OWNER)
    heir = world.add(Role.ADMINISTRATOR)
    services.workspace_create(actor=heir.actor, name="Heir's own")
    before = db_snapshot()

    response = api_client.post(
        ws_url(world, "/transfer"),
        {"email": heir.email, "password": PASSWORD},
        token=world.owner.token,
    )

    assert_problem(response, 409, "workspace_limit_reached")
    assert_unchanged(before)


def test_a_business_workspace_moves_to_someone_who_owns_a_community_one(
    api_client: ApiClient,
) -> None:
    world = World(Role.OWNER, plan="business")
    heir = world.add(Role.MANAGER)
    services.workspace_create(actor=heir.actor, name="Heir's own")
    response = api_client.post(
        ws_url(world, "/transfer"),
        {"email": heir.email, "password": PASSWORD},
        token=world.owner.token,
    )
    assert response.status_code == 200
    assert world.refresh().owner_id == heir.id


def test_the_one_owner_row_stays_unique_across_transfers(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    heir = world.add(Role.VIEWER)
    for giver, taker in [(world.owner, heir), (heir, world.owner), (world.owner, heir)]:
        response = api_client.post(
            ws_url(world, "/transfer"),
            {"email": taker.email, "password": PASSWORD},
            token=giver.token,
        )
        assert response.status_code == 200
        owners = Membership.objects.filter(workspace_id=world.id, role="owner")
        assert list(owners.values_list("user_id", flat=True)) == [taker.id]
        assert world.refresh().owner_id == taker.id


# --- collaborators ----------------------------------------------------------------------


def test_collaborators_list_shape_and_paging(api_client: ApiClient) -> None:
    with clock.frozen(T0):
        world = World(Role.VIEWER)
    later = T0 + dt.timedelta(hours=1)
    with clock.frozen(later):
        dev = world.add(Role.DEVELOPER, name="Dee Developer")

    response = api_client.get(ws_url(world, "/collaborators"), token=world.caller.token)

    assert response.status_code == 200
    data = body(response)
    assert data["next_cursor"] is None
    assert data["items"][-1] == {
        "user": {"id": dev.id, "email": dev.email, "name": "Dee Developer"},
        "role": "developer",
        "joined_at": "2026-03-01T10:30:00Z",
    }
    assert {(i["user"]["id"], i["role"]) for i in data["items"]} == {
        (world.owner.id, "owner"),
        (world.caller.id, "viewer"),
        (dev.id, "developer"),
    }
    first = body(api_client.get(ws_url(world, "/collaborators"), {"limit": 2}, token=dev.token))
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = body(
        api_client.get(
            ws_url(world, "/collaborators"),
            {"limit": 2, "cursor": first["next_cursor"]},
            token=dev.token,
        )
    )
    assert rest["next_cursor"] is None
    assert [i["user"]["id"] for i in first["items"] + rest["items"]] == [
        i["user"]["id"] for i in data["items"]
    ]


def test_collaborators_list_does_not_grow_queries_with_rows(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    api_client.get(ws_url(world), token=world.owner.token)  # the token's first use is recorded
    with CaptureQueriesContext(connection) as few:
        api_client.get(ws_url(world, "/collaborators"), token=world.owner.token)
    for _ in range(5):
        world.add(Role.VIEWER)
    with CaptureQueriesContext(connection) as many:
        data = body(api_client.get(ws_url(world, "/collaborators"), token=world.owner.token))
    assert len(data["items"]) == 6
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize("actor_role", [Role.OWNER, Role.ADMINISTRATOR])
@pytest.mark.parametrize("target_role", list(ASSIGNABLE_ROLES))
def test_role_change_by_owner_or_administrator_on_anyone_but_the_owner(
    api_client: ApiClient, actor_role: Role, target_role: Role
) -> None:
    with clock.frozen(T0):
        world = World(actor_role)
        target = world.add(target_role, name="Tess Target")
    new_role = Role.VIEWER if target_role is not Role.VIEWER else Role.ADMINISTRATOR

    with clock.frozen(T0 + dt.timedelta(hours=1)):
        response = api_client.patch(
            ws_url(world, f"/collaborators/{target.id}"),
            {"role": new_role.value},
            token=world.caller.token,
        )

    assert response.status_code == 200, response.content
    membership = Membership.objects.get(workspace_id=world.id, user_id=target.id)
    assert body(response) == {
        "user": {"id": target.id, "email": target.email, "name": "Tess Target"},
        "role": new_role.value,
        "joined_at": T0_TEXT,
    }
    assert membership.role == new_role
    event = last_event(world)
    assert (event.action, event.target_type, event.event) == (
        "updated",
        "collaborator",
        "collaborator.role_changed",
    )
    assert (event.target_id, event.target_label) == (target.id, target.email)
    assert event.details == {"before": target_role.value, "after": new_role.value}


def test_setting_the_same_role_again_changes_nothing(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    target = world.collaborator
    before = db_snapshot()
    response = api_client.patch(
        ws_url(world, f"/collaborators/{target.id}"), {"role": "viewer"}, token=world.owner.token
    )
    assert response.status_code == 200
    assert body(response)["role"] == "viewer"
    assert_unchanged(before)


def test_nobody_changes_the_owner_role(api_client: ApiClient) -> None:
    world = World(Role.ADMINISTRATOR)
    before = db_snapshot()
    for role in ["viewer", "administrator"]:
        response = api_client.patch(
            ws_url(world, f"/collaborators/{world.owner.id}"),
            {"role": role},
            token=world.caller.token,
        )
        assert_problem(response, 403, "cannot_manage_owner")
    assert_unchanged(before)


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMINISTRATOR])
def test_nobody_changes_their_own_role(api_client: ApiClient, role: Role) -> None:
    world = World(role)
    before = db_snapshot()
    response = api_client.patch(
        ws_url(world, f"/collaborators/{world.caller.id}"),
        {"role": "viewer"},
        token=world.caller.token,
    )
    assert_problem(response, 403, "cannot_change_own_role")
    assert_unchanged(before)


@pytest.mark.parametrize("role", ["owner", "superuser", "", "Viewer", "admin"])
def test_role_change_to_an_invalid_role_is_refused(api_client: ApiClient, role: str) -> None:
    world = World(Role.OWNER)
    target = world.collaborator
    before = db_snapshot()
    response = api_client.patch(
        ws_url(world, f"/collaborators/{target.id}"), {"role": role}, token=world.owner.token
    )
    problem = assert_problem(response, 400, "invalid_role")
    assert problem["errors"][0]["field"] == "role"
    assert_unchanged(before)


def test_role_change_of_someone_who_is_not_a_collaborator_is_404(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    stranger = person()
    before = db_snapshot()
    for user_id in [stranger.id, "usr_doesnotexist"]:
        response = api_client.patch(
            ws_url(world, f"/collaborators/{user_id}"), {"role": "viewer"}, token=world.owner.token
        )
        assert_problem(response, 404, "collaborator_not_found")
        response = api_client.delete(
            ws_url(world, f"/collaborators/{user_id}"), token=world.owner.token
        )
        assert_problem(response, 404, "collaborator_not_found")
    assert_unchanged(before)


@pytest.mark.parametrize("actor_role", [Role.OWNER, Role.ADMINISTRATOR])
@pytest.mark.parametrize("target_role", list(ASSIGNABLE_ROLES))
def test_remove_a_collaborator(api_client: ApiClient, actor_role: Role, target_role: Role) -> None:
    world = World(actor_role)
    target = world.add(target_role)

    response = api_client.delete(
        ws_url(world, f"/collaborators/{target.id}"), token=world.caller.token
    )

    assert response.status_code == 204
    assert not Membership.objects.filter(workspace_id=world.id, user_id=target.id).exists()
    event = last_event(world)
    assert (event.action, event.target_type, event.event) == (
        "removed",
        "collaborator",
        "collaborator.removed",
    )
    assert (event.target_id, event.target_label, event.details) == (
        target.id,
        target.email,
        {"role": target_role.value},
    )
    assert_problem(api_client.get(ws_url(world), token=target.token), 404, "workspace_not_found")


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMINISTRATOR])
def test_nobody_removes_the_owner(api_client: ApiClient, role: Role) -> None:
    world = World(role)
    before = db_snapshot()
    response = api_client.delete(
        ws_url(world, f"/collaborators/{world.owner.id}"), token=world.caller.token
    )
    assert_problem(response, 403, "cannot_manage_owner")
    assert_unchanged(before)


# --- invitations ------------------------------------------------------------------------


def test_invite_answers_201_and_emails_the_link_after_commit(
    api_client: ApiClient, django_capture_on_commit_callbacks: Capture, settings: Any
) -> None:
    settings.BASE_URL = "https://botyard.example.org"
    world = World(Role.ADMINISTRATOR, name="Acme")

    with clock.frozen(T0), django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(
            ws_url(world, "/invitations"),
            {"email": "  New.Person@Example.COM ", "role": "developer"},
            token=world.caller.token,
        )
        assert response.status_code == 201, response.content
    assert mail.outbox == []  # nothing leaves before the transaction commits
    assert len(callbacks) == 1

    invitation = Invitation.objects.get(email="new.person@example.com")
    assert body(response) == {
        "id": invitation.id,
        "email": "new.person@example.com",
        "role": "developer",
        "invited_by": world.caller.email,
        "created_at": T0_TEXT,
        "expires_at": "2026-03-08T09:30:00Z",
    }
    assert invitation.id.startswith("ivt_")
    assert (invitation.status, invitation.invited_by_id) == ("pending", world.caller.id)
    assert invitation.expires_at == T0 + dt.timedelta(days=7)

    callbacks[0]()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.person@example.com"]
    assert "Acme" in message.subject
    token = token_of(invitation)
    assert f"https://botyard.example.org/invitations/accept?token={token}" in message.body
    # Only the digest of the secret is stored.
    stored = json.dumps(list(Invitation.objects.values()), default=str)
    assert token not in stored
    event = last_event(world)
    assert (event.action, event.target_type, event.event) == (
        "added",
        "collaborator",
        "collaborator.invited",
    )
    assert (event.target_id, event.target_label, event.details) == (
        invitation.id,
        "new.person@example.com",
        {"role": "developer"},
    )


def test_no_email_goes_out_when_the_invitation_is_refused(
    api_client: ApiClient, django_capture_on_commit_callbacks: Capture
) -> None:
    world = World(Role.OWNER)
    world.invitation
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api_client.post(
            ws_url(world, "/invitations"),
            {"email": world.invitation.email, "role": "viewer"},
            token=world.owner.token,
        )
    assert_problem(response, 409, "already_invited")
    assert callbacks == []
    assert mail.outbox == []


@pytest.mark.parametrize("who", ["owner", "member", "member-other-case"])
def test_inviting_a_collaborator_is_a_conflict(api_client: ApiClient, who: str) -> None:
    world = World(Role.ADMINISTRATOR)
    email = {
        "owner": world.owner.email,
        "member": world.collaborator.email,
        "member-other-case": world.collaborator.email.upper(),
    }[who]
    before = db_snapshot()
    response = api_client.post(
        ws_url(world, "/invitations"), {"email": email, "role": "viewer"}, token=world.caller.token
    )
    problem = assert_problem(response, 409, "already_collaborator")
    assert problem["errors"][0]["field"] == "email"
    assert_unchanged(before)


def test_inviting_someone_already_invited_is_a_conflict(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    pending = world.invitation
    before = db_snapshot()
    response = api_client.post(
        ws_url(world, "/invitations"),
        {"email": pending.email.upper(), "role": "manager"},
        token=world.owner.token,
    )
    problem = assert_problem(response, 409, "already_invited")
    assert problem["errors"][0]["field"] == "email"
    assert_unchanged(before)


def test_an_expired_invitation_does_not_block_a_new_one(
    api_client: ApiClient, django_capture_on_commit_callbacks: Capture
) -> None:
    with clock.frozen(T0):
        world = World(Role.OWNER)
        stale = world.invitation
    with clock.frozen(T0 + dt.timedelta(days=7, seconds=1)):
        data, _ = invite(api_client, world, django_capture_on_commit_callbacks, stale.email)
    stale.refresh_from_db()
    assert stale.status == InvitationStatus.EXPIRED
    assert data["id"] != stale.id


@pytest.mark.parametrize("role", ["owner", "root", ""])
def test_invite_with_an_invalid_role_is_refused(api_client: ApiClient, role: str) -> None:
    world = World(Role.OWNER)
    before = db_snapshot()
    response = api_client.post(
        ws_url(world, "/invitations"),
        {"email": "x@example.com", "role": role},
        token=world.owner.token,
    )
    problem = assert_problem(response, 400, "invalid_role")
    assert problem["errors"][0]["field"] == "role"
    assert_unchanged(before)


@pytest.mark.parametrize("email", ["", "not-an-email", "a@", "@example.com", "a b@example.com"])
def test_invite_with_an_invalid_email_is_refused(api_client: ApiClient, email: str) -> None:
    world = World(Role.OWNER)
    before = db_snapshot()
    response = api_client.post(
        ws_url(world, "/invitations"), {"email": email, "role": "viewer"}, token=world.owner.token
    )
    problem = assert_problem(response, 400, "invalid_email")
    assert problem["errors"][0]["field"] == "email"
    assert_unchanged(before)


def test_pending_invitations_list(api_client: ApiClient) -> None:
    with clock.frozen(T0):
        world = World(Role.ADMINISTRATOR)
        pending = world.invitation
        revoked = services.invitation_create(
            actor=world.owner.actor, workspace_id=world.id, email="gone@example.com", role="viewer"
        )
        services.invitation_revoke(
            actor=world.owner.actor, workspace_id=world.id, invitation_id=revoked.id
        )
        joined = person()
        join(world.workspace, by=world.owner, who=joined, role=Role.VIEWER)
    with clock.frozen(T0 + dt.timedelta(days=1)):
        earlier = body(api_client.get(ws_url(world, "/invitations"), token=world.caller.token))
    # Only the pending one: not the revoked one, nor the accepted one.
    assert [i["id"] for i in earlier["items"]] == [pending.id]

    with clock.frozen(T0 + dt.timedelta(days=6)):
        fresh = services.invitation_create(
            actor=world.caller.actor,
            workspace_id=world.id,
            email="fresh@example.com",
            role="manager",
        )
    with clock.frozen(T0 + dt.timedelta(days=7, seconds=1)):
        response = api_client.get(ws_url(world, "/invitations"), token=world.caller.token)

    assert response.status_code == 200
    assert body(response) == {
        "items": [
            {
                "id": fresh.id,
                "email": "fresh@example.com",
                "role": "manager",
                "invited_by": world.caller.email,
                "created_at": "2026-03-07T09:30:00Z",
                "expires_at": "2026-03-14T09:30:00Z",
            }
        ],
        "next_cursor": None,
    }


def test_resend_issues_a_new_link_and_expiry_and_is_throttled(
    api_client: ApiClient, django_capture_on_commit_callbacks: Capture
) -> None:
    invitee = person(email="invitee@example.com")
    with clock.frozen(T0):
        world = World(Role.ADMINISTRATOR)
        data, first_token = invite(
            api_client, world, django_capture_on_commit_callbacks, invitee.email
        )
    url = ws_url(world, f"/invitations/{data['id']}/resend")

    tokens = [first_token]
    for minutes in (10, 20):
        with clock.frozen(T0 + dt.timedelta(minutes=minutes)):
            with django_capture_on_commit_callbacks(execute=True):
                response = api_client.post(url, token=world.caller.token)
            assert response.status_code == 200, response.content
            resent = body(response)
            assert resent["id"] == data["id"]
            assert resent["created_at"] == T0_TEXT
            expected = T0 + dt.timedelta(minutes=minutes, days=7)
            assert resent["expires_at"] == expected.isoformat().replace("+00:00", "Z")
            match = LINK.search(mail.outbox[-1].body)
            assert match is not None
            tokens.append(match.group(1))
    assert len(mail.outbox) == 3
    assert len(set(tokens)) == 3

    # A third resend within the hour is throttled, and changes nothing.
    before = db_snapshot()
    with (
        clock.frozen(T0 + dt.timedelta(minutes=30)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = api_client.post(url, token=world.caller.token)
    assert_problem(response, 429, "resend_throttled")
    assert 1800 <= int(response["Retry-After"]) <= 1801
    assert_unchanged(before)
    assert len(mail.outbox) == 3

    # An hour after the first send it may go again.
    with clock.frozen(T0 + dt.timedelta(minutes=61)):
        assert api_client.post(url, token=world.caller.token).status_code == 200

    # Older links stopped working; the newest one (not yet mailed above) is the valid one.
    invitation = Invitation.objects.get(pk=data["id"])
    with clock.frozen(T0 + dt.timedelta(minutes=62)):
        for old in tokens:
            assert_problem(
                api_client.post(ACCEPT, {"token": old}, token=invitee.token),
                404,
                "invitation_not_found",
            )
        accepted = api_client.post(ACCEPT, {"token": token_of(invitation)}, token=invitee.token)
    assert accepted.status_code == 200, accepted.content
    event = AuditEvent.objects.filter(workspace_id=world.id, event="collaborator.invitation_resent")
    assert event.count() == 3
    assert {e.action for e in event} == {"updated"}


def test_resend_or_revoke_of_an_unknown_invitation_is_404(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    before = db_snapshot()
    for response in [
        api_client.post(ws_url(world, "/invitations/inv_nope/resend"), token=world.owner.token),
        api_client.delete(ws_url(world, "/invitations/inv_nope"), token=world.owner.token),
    ]:
        assert_problem(response, 404, "invitation_not_found")
    assert_unchanged(before)


def test_revoke_answers_204_and_kills_the_link(
    api_client: ApiClient, django_capture_on_commit_callbacks: Capture
) -> None:
    invitee = person()
    world = World(Role.ADMINISTRATOR)
    data, token = invite(api_client, world, django_capture_on_commit_callbacks, invitee.email)

    response = api_client.delete(
        ws_url(world, f"/invitations/{data['id']}"), token=world.caller.token
    )

    assert response.status_code == 204
    assert Invitation.objects.get(pk=data["id"]).status == InvitationStatus.REVOKED
    event = last_event(world)
    assert (event.action, event.target_type, event.event) == (
        "removed",
        "collaborator",
        "collaborator.invitation_revoked",
    )
    assert (event.target_id, event.target_label) == (data["id"], invitee.email)
    assert (
        body(api_client.get(ws_url(world, "/invitations"), token=world.caller.token))["items"] == []
    )
    assert body(api_client.get(MY_INVITATIONS, token=invitee.token))["items"] == []
    before = db_snapshot()
    assert_problem(
        api_client.post(ACCEPT, {"token": token}, token=invitee.token), 404, "invitation_not_found"
    )
    # Revoking or resending it again: it is no longer pending.
    assert_problem(
        api_client.delete(ws_url(world, f"/invitations/{data['id']}"), token=world.caller.token),
        404,
        "invitation_not_found",
    )
    assert_problem(
        api_client.post(
            ws_url(world, f"/invitations/{data['id']}/resend"), token=world.caller.token
        ),
        404,
        "invitation_not_found",
    )
    assert_unchanged(before)


# --- POST /invitations/accept -----------------------------------------------------------


def test_accept_joins_the_workspace_with_the_invited_role(
    api_client: ApiClient, django_capture_on_commit_callbacks: Capture
) -> None:
    invitee = person(email="Invitee@Example.com")
    world = World(Role.OWNER, name="Acme")
    data, token = invite(
        api_client, world, django_capture_on_commit_callbacks, invitee.email, "manager"
    )

    with clock.frozen(T0):
        response = api_client.post(ACCEPT, {"token": token}, token=invitee.token)

    assert response.status_code == 200, response.content
    assert body(response) == {"workspace": {"id": world.id, "name": "Acme"}, "role": "manager"}
    membership = Membership.objects.get(workspace_id=world.id, user_id=invitee.id)
    assert (membership.role, membership.joined_at) == ("manager", T0)
    assert Invitation.objects.get(pk=data["id"]).status == InvitationStatus.ACCEPTED
    event = last_event(world)
    assert (event.action, event.target_type, event.event) == (
        "added",
        "collaborator",
        "collaborator.joined",
    )
    assert (event.target_id, event.target_label, event.actor_email) == (
        invitee.id,
        invitee.email,
        invitee.email,
    )
    assert event.details == {"role": "manager", "invitation_id": data["id"]}
    assert token not in json.dumps(event.details)
    assert body(api_client.get(ws_url(world), token=invitee.token))["my_role"] == "manager"

    # Single use.
    before = db_snapshot()
    again = api_client.post(ACCEPT, {"token": token}, token=invitee.token)
    assert_problem(again, 404, "invitation_not_found")
    assert_unchanged(before)


@pytest.mark.parametrize(
    "token",
    ["", "short", "0" * 64, "f" * 64, "x" * 1024, "../../etc/passwd"],
    ids=["empty", "short", "zeros", "effs", "long", "path"],
)
def test_accept_with_an_unknown_token_is_404(api_client: ApiClient, token: str) -> None:
    world = World(Role.OWNER)
    world.invitation
    someone = person()
    before = db_snapshot()
    response = api_client.post(ACCEPT, {"token": token}, token=someone.token)
    assert_problem(response, 404, "invitation_not_found")
    assert_unchanged(before)


def test_accept_after_seven_days_is_gone(
    api_client: ApiClient, django_capture_on_commit_callbacks: Capture
) -> None:
    invitee = person()
    with clock.frozen(T0):
        world = World(Role.OWNER)
        _, token = invite(api_client, world, django_capture_on_commit_callbacks, invitee.email)
        clock.advance(dt.timedelta(days=7))
        before = db_snapshot()
        response = api_client.post(ACCEPT, {"token": token}, token=invitee.token)
        assert_problem(response, 410, "invitation_expired")
        clock.advance(dt.timedelta(hours=5))
        assert_problem(
            api_client.post(ACCEPT, {"token": token}, token=invitee.token),
            410,
            "invitation_expired",
        )
        assert_unchanged(before)


def test_accept_just_before_expiry_works(
    api_client: ApiClient, django_capture_on_commit_callbacks: Capture
) -> None:
    invitee = person()
    with clock.frozen(T0):
        world = World(Role.OWNER)
        _, token = invite(api_client, world, django_capture_on_commit_callbacks, invitee.email)
        clock.advance(dt.timedelta(days=7) - dt.timedelta(seconds=1))
        assert api_client.post(ACCEPT, {"token": token}, token=invitee.token).status_code == 200


def test_accept_with_another_email_is_refused(
    api_client: ApiClient, django_capture_on_commit_callbacks: Capture
) -> None:
    world = World(Role.OWNER)
    _, token = invite(api_client, world, django_capture_on_commit_callbacks, "invitee@example.com")
    intruder = person(email="intruder@example.com")
    before = db_snapshot()

    response = api_client.post(ACCEPT, {"token": token}, token=intruder.token)

    problem = assert_problem(response, 403, "invitation_email_mismatch")
    assert "invitee@example.com" in problem["detail"]
    assert_unchanged(before)
    # The invitee can still use it.
    invitee = person(email="invitee@example.com")
    assert api_client.post(ACCEPT, {"token": token}, token=invitee.token).status_code == 200


def test_accept_needs_a_signed_in_user(
    api_client: ApiClient, django_capture_on_commit_callbacks: Capture
) -> None:
    world = World(Role.OWNER)
    _, token = invite(api_client, world, django_capture_on_commit_callbacks, "invitee@example.com")
    before = db_snapshot()
    assert_problem(api_client.post(ACCEPT, {"token": token}), 401, "not_authenticated")
    assert_unchanged(before)


def test_a_new_account_signed_up_with_the_invited_email_can_accept(
    api_client: ApiClient, django_capture_on_commit_callbacks: Capture
) -> None:
    world = World(Role.OWNER)
    _, token = invite(
        api_client, world, django_capture_on_commit_callbacks, "brand.new@example.com"
    )
    signup = api_client.post(
        "/api/v1/auth/signup",
        {"email": "Brand.New@example.com", "password": PASSWORD, "name": "Bran"},
    )
    assert signup.status_code == 201
    tokens = api_client.post(
        "/api/v1/auth/tokens",
        {"email": "brand.new@example.com", "password": PASSWORD, "name": "cli"},
    )
    response = api_client.post(ACCEPT, {"token": token}, token=body(tokens)["token"])
    assert response.status_code == 200
    assert body(response)["role"] == "viewer"


# --- GET /me/invitations ----------------------------------------------------------------


def test_my_invitations_lists_the_pending_ones_addressed_to_me(api_client: ApiClient) -> None:
    me = person(email="me@example.com")
    with clock.frozen(T0):
        first = World(Role.OWNER, name="First")
        to_me = services.invitation_create(
            actor=first.owner.actor, workspace_id=first.id, email="ME@example.com", role="developer"
        )
        first.invitation
        second = World(Role.OWNER, name="Second")
        revoked = services.invitation_create(
            actor=second.owner.actor, workspace_id=second.id, email=me.email, role="viewer"
        )
        services.invitation_revoke(
            actor=second.owner.actor, workspace_id=second.id, invitation_id=revoked.id
        )
        third = World(Role.OWNER, name="Third")
        services.invitation_create(
            actor=third.owner.actor, workspace_id=third.id, email=me.email, role="viewer"
        )
    with clock.frozen(T0 + dt.timedelta(days=2)):
        fourth = World(Role.OWNER, name="Fourth")
        later = services.invitation_create(
            actor=fourth.owner.actor, workspace_id=fourth.id, email=me.email, role="manager"
        )
    with clock.frozen(T0 + dt.timedelta(days=3)):
        accepted_ws = World(Role.OWNER, name="Joined")
        join(accepted_ws.workspace, by=accepted_ws.owner, who=me, role=Role.VIEWER)

    with clock.frozen(T0 + dt.timedelta(days=7, hours=1)):
        # The ones sent at T0 (First, Third) have expired by now.
        response = api_client.get(MY_INVITATIONS, token=me.token)
    assert response.status_code == 200
    assert body(response) == {
        "items": [
            {
                "id": later.id,
                "workspace": {"id": fourth.id, "name": "Fourth"},
                "role": "manager",
                "invited_by": fourth.owner.email,
                "expires_at": "2026-03-10T09:30:00Z",
            }
        ],
        "next_cursor": None,
    }
    with clock.frozen(T0 + dt.timedelta(days=3)):
        data = body(api_client.get(MY_INVITATIONS, token=me.token))
    assert [i["workspace"]["name"] for i in data["items"]] == ["First", "Third", "Fourth"]
    assert data["items"][0]["id"] == to_me.id
    other = person()
    assert body(api_client.get(MY_INVITATIONS, token=other.token))["items"] == []
    assert_problem(api_client.get(MY_INVITATIONS), 401, "not_authenticated")


# --- tenants ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_a_collaborator_of_another_workspace_learns_nothing(
    api_client: ApiClient, role: Role
) -> None:
    a = World(role, name="Alpha")
    b = World(Role.OWNER, name="Bravo")
    requests = [op.request(b) for op in OPERATIONS]
    before = db_snapshot()

    for request in requests:
        response = request.send(api_client, token=a.caller.token)
        problem = assert_problem(response, 404, "workspace_not_found")
        assert "Bravo" not in json.dumps(problem), request

    assert_unchanged(before)
    assert [w["name"] for w in body(api_client.get(WORKSPACES, token=a.caller.token))["items"]] == [
        "Alpha"
    ]


def test_objects_of_another_workspace_are_not_found_through_mine(api_client: ApiClient) -> None:
    mine = World(Role.OWNER, name="Mine")
    theirs = World(Role.OWNER, name="Theirs")
    their_invitation, their_member = theirs.invitation, theirs.collaborator
    before = db_snapshot()

    token = mine.owner.token
    answers = [
        (api_client.post(ws_url(mine, f"/invitations/{their_invitation.id}/resend"), token=token),
         404, "invitation_not_found"),
        (api_client.delete(ws_url(mine, f"/invitations/{their_invitation.id}"), token=token),
         404, "invitation_not_found"),
        (api_client.patch(ws_url(mine, f"/collaborators/{their_member.id}"), {"role": "manager"},
                          token=token),
         404, "collaborator_not_found"),
        (api_client.delete(ws_url(mine, f"/collaborators/{their_member.id}"), token=token),
         404, "collaborator_not_found"),
        (api_client.post(ws_url(mine, "/transfer"),
                         {"email": their_member.email, "password": PASSWORD}, token=token),
         400, "not_a_collaborator"),
    ]  # fmt: skip
    for response, status, code in answers:
        assert_problem(response, status, code)

    assert_unchanged(before)


# --- the database enforces the invariants -----------------------------------------------


def test_a_second_owner_membership_is_impossible() -> None:
    world = World(Role.VIEWER)
    other = person()
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(workspace=world.workspace, user=other.user, role="owner")
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(workspace=world.workspace, user=world.caller.user).update(
            role="owner"
        )
    assert Membership.objects.filter(workspace=world.workspace, role="owner").count() == 1


def test_a_membership_role_outside_the_six_is_impossible() -> None:
    world = World(Role.VIEWER)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(workspace=world.workspace, user=world.caller.user).update(
            role="superuser"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(workspace=world.workspace, user=person().user, role="")


def test_one_membership_per_user_and_workspace() -> None:
    world = World(Role.VIEWER)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(workspace=world.workspace, user=world.caller.user, role="viewer")


def test_an_invitation_never_grants_owner_and_is_pending_once_per_email() -> None:
    world = World(Role.OWNER)
    pending = world.invitation
    with pytest.raises(IntegrityError), transaction.atomic():
        Invitation.objects.filter(pk=pending.pk).update(role="owner")
    duplicate = Invitation(
        workspace=world.workspace, email=pending.email, role="viewer", invited_by_email="x@e.com",
        token_digest="d" * 64, token_nonce="n", expires_at=pending.expires_at,
    )  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save(force_insert=True)


def test_the_workspace_owner_cannot_be_deleted_from_under_it() -> None:
    from django.db.models import ProtectedError

    world = World(Role.OWNER)
    with pytest.raises(ProtectedError):
        world.owner.user.delete()
    assert Workspace.objects.filter(pk=world.id).exists()


# --- the email task ---------------------------------------------------------------------


def test_an_email_queued_before_a_resend_or_revoke_is_not_sent() -> None:
    world = World(Role.OWNER)
    invitation = world.invitation
    first_nonce = invitation.token_nonce
    with clock.frozen(clock.now() + dt.timedelta(minutes=1)):
        services.invitation_resend(
            actor=world.owner.actor, workspace_id=world.id, invitation_id=invitation.id
        )
    # The email of the first send runs late: its link was replaced, so it stays unsent.
    assert tasks.send_invitation_email.call(invitation.id, first_nonce).startswith("skipped")
    assert mail.outbox == []
    invitation.refresh_from_db()
    services.invitation_revoke(
        actor=world.owner.actor, workspace_id=world.id, invitation_id=invitation.id
    )
    assert tasks.send_invitation_email.call(invitation.id, invitation.token_nonce).startswith(
        "skipped"
    )
    assert mail.outbox == []


def test_a_removed_collaborator_can_be_invited_again(
    api_client: ApiClient, django_capture_on_commit_callbacks: Capture
) -> None:
    world = World(Role.OWNER)
    gone = world.add(Role.MANAGER)
    services.collaborator_remove(actor=world.owner.actor, workspace_id=world.id, user_id=gone.id)
    _, token = invite(api_client, world, django_capture_on_commit_callbacks, gone.email, "viewer")
    response = api_client.post(ACCEPT, {"token": token}, token=gone.token)
    assert response.status_code == 200
    assert Membership.objects.get(workspace_id=world.id, user_id=gone.id).role == "viewer"
