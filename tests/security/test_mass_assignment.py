"""Mass assignment: request bodies that try to set fields the client must not set.

The API's input schemas name the fields a client may send and ignore every other key
(Pydantic's default, which api.md's "extensions are welcome" relies on: an older server
must take a newer client's body). So each of these requests succeeds, does exactly what
the same request without the extra keys does, and the protected values are what the
server chose: asserted on the database rows, together with "no other table changed".
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from botyard.accounts.models import AccessToken, User
from botyard.bots.models import Bot, BotVersion
from botyard.core import clock
from botyard.workspaces.models import Invitation, InvitationStatus, Membership, Workspace
from botyard.workspaces.roles import Role
from botyard.workspaces.services import INVITATION_LIFETIME
from botyard.workspaces.tokens import token_digest
from tests import factories
from tests.helpers import ApiClient
from tests.workspaces.world import (
    AUDIT_TABLES,
    BOT_DEFINITION,
    World,
    assert_unchanged,
    db_snapshot,
    person,
)

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.UTC)
LONG_AGO = "2001-01-01T00:00:00Z"
FAR_AHEAD = "2099-01-01T00:00:00Z"


@pytest.fixture(autouse=True)
def _frozen_clock() -> Any:
    with clock.frozen(NOW):
        yield


def body(response: Any) -> Any:
    return json.loads(response.content)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.content
    return body(response)


@pytest.fixture
def rival() -> World:
    """Another tenant's workspace, whose ids the bodies below try to smuggle in."""
    return World(Role.OWNER, name="Rival")


# --- workspaces ------------------------------------------------------------------------------


def test_creating_a_workspace_ignores_owner_ids_counts_limits_and_times(
    api_client: ApiClient, rival: World
) -> None:
    me = person(name="Mo Maker")
    before = db_snapshot()
    answer = ok(
        api_client.post(
            "/api/v1/workspaces",
            {
                "name": "Mine",
                "id": rival.id,
                "owner": rival.owner.id,
                "owner_id": rival.owner.id,
                "my_role": "viewer",
                "bot_count": 99,
                "bot_limit": 1000,
                "custom_bot_limit": 1000,
                "budget_cents": 1,
                "past_due": True,
                "created_at": LONG_AGO,
                "plan_started_at": LONG_AGO,
            },
            token=me.token,
        ),
        201,
    )
    workspace = Workspace.objects.get(pk=answer["id"])
    assert workspace.pk != rival.id
    assert workspace.owner_id == me.id
    assert (workspace.plan, workspace.custom_bot_limit, workspace.budget_cents) == (
        "community",
        None,
        None,
    )
    assert workspace.past_due is False
    assert workspace.created_at == workspace.plan_started_at == NOW
    assert (answer["my_role"], answer["bot_count"], answer["bot_limit"]) == ("owner", 0, 5)
    assert answer["owner"]["id"] == me.id
    assert list(Membership.objects.filter(workspace=workspace).values_list("user", "role")) == [
        (me.id, "owner")
    ]
    # The rival is untouched, and the only new rows are the workspace, its membership and
    # its audit event: what a plain create writes.
    assert_unchanged(
        before, besides=frozenset({"workspaces.workspace", "workspaces.membership"}) | AUDIT_TABLES
    )
    assert Workspace.objects.count() == 2
    assert Membership.objects.count() == len(before["workspaces.membership"]) + 1


def test_renaming_a_workspace_changes_only_its_name(api_client: ApiClient) -> None:
    """An administrator (who may rename) sends the owner's fields, and a plan, too."""
    world = World(Role.ADMINISTRATOR)
    before = db_snapshot()
    answer = ok(
        api_client.patch(
            f"/api/v1/workspaces/{world.id}",
            {
                "name": "Renamed",
                "id": "ws_forged",
                "owner": world.caller.id,
                "owner_id": world.caller.id,
                "plan": "business",
                "my_role": "owner",
                "bot_count": 99,
                "bot_limit": 1000,
                "created_at": LONG_AGO,
            },
            token=world.caller.token,
        )
    )
    assert (answer["id"], answer["name"], answer["plan"]) == (world.id, "Renamed", "community")
    assert (answer["my_role"], answer["owner"]["id"]) == ("administrator", world.owner.id)
    workspace = world.refresh()
    assert (workspace.name, workspace.owner_id, workspace.plan) == (
        "Renamed",
        world.owner.id,
        "community",
    )
    assert Membership.objects.get(workspace=workspace, user=world.caller.user).role == (
        "administrator"
    )
    assert _changed_fields(before, "workspaces.workspace", Workspace) == {(world.id, "name")}
    assert_unchanged(before, besides=frozenset({"workspaces.workspace"}) | AUDIT_TABLES)


def _changed_fields(
    before: dict[str, list[tuple[Any, ...]]], label: str, model: Any
) -> set[tuple[Any, str]]:
    """(pk, field) for every column of `label` that differs from `before`."""
    names = [f.attname for f in model._meta.concrete_fields]
    old = {row[0]: row for row in before[label]}
    new = {row[0]: row for row in db_snapshot()[label]}
    assert old.keys() == new.keys()
    return {(pk, name) for pk in old for i, name in enumerate(names) if old[pk][i] != new[pk][i]}


# --- collaborators and invitations -----------------------------------------------------------


def test_changing_a_role_cannot_retarget_the_user_or_the_workspace(
    api_client: ApiClient, rival: World
) -> None:
    world = World(Role.ADMINISTRATOR)
    target = world.collaborator
    bystander = world.add(Role.VIEWER, name="Bea Bystander")
    rival_member = rival.add(Role.VIEWER, name="Rita Rival")
    before = db_snapshot()
    answer = ok(
        api_client.patch(
            f"/api/v1/workspaces/{world.id}/collaborators/{target.id}",
            {
                "role": "developer",
                "user": bystander.id,
                "user_id": bystander.id,
                "workspace": rival.id,
                "workspace_id": rival.id,
                "joined_at": LONG_AGO,
            },
            token=world.caller.token,
        )
    )
    assert (answer["user"]["id"], answer["role"]) == (target.id, "developer")
    roles = {(m.workspace_id, m.user_id): m.role for m in Membership.objects.all()}
    assert roles[(world.id, target.id)] == "developer"
    assert roles[(world.id, bystander.id)] == "viewer"
    assert roles[(rival.id, rival_member.id)] == "viewer"
    assert (rival.id, target.id) not in roles
    assert _changed_fields(before, "workspaces.membership", Membership) == {
        (_membership_pk(world.id, target.id), "role")
    }
    assert_unchanged(before, besides=frozenset({"workspaces.membership"}) | AUDIT_TABLES)


def _membership_pk(workspace_id: str, user_id: str) -> int:
    return Membership.objects.get(workspace_id=workspace_id, user_id=user_id).pk


def test_an_invitation_takes_its_sender_status_expiry_and_token_from_the_server(
    api_client: ApiClient, rival: World
) -> None:
    world = World(Role.ADMINISTRATOR)
    chosen_token = "attacker-chosen-token-0123456789"
    before = db_snapshot()
    answer = ok(
        api_client.post(
            f"/api/v1/workspaces/{world.id}/invitations",
            {
                "email": "newcomer@example.com",
                "role": "viewer",
                "id": "ivt_forged",
                "invited_by": world.owner.id,
                "invited_by_email": world.owner.email,
                "status": "accepted",
                "expires_at": FAR_AHEAD,
                "created_at": LONG_AGO,
                "workspace_id": rival.id,
                "token": chosen_token,
                "token_digest": token_digest(chosen_token),
                "token_nonce": "0" * 32,
                "sent_count": 0,
            },
            token=world.caller.token,
        ),
        201,
    )
    invitation = Invitation.objects.get(pk=answer["id"])
    assert invitation.pk != "ivt_forged"
    assert invitation.workspace_id == world.id
    assert (invitation.invited_by_id, invitation.invited_by_email) == (
        world.caller.id,
        world.caller.email,
    )
    assert answer["invited_by"] == world.caller.email
    assert invitation.status == InvitationStatus.PENDING
    assert invitation.created_at == NOW
    assert invitation.expires_at == NOW + INVITATION_LIFETIME
    assert invitation.sent_count == 1
    assert invitation.token_digest != token_digest(chosen_token)
    assert invitation.token_nonce != "0" * 32
    assert not Invitation.objects.filter(workspace_id=rival.id).exists()
    # Nobody can accept with the token the body chose.
    newcomer = person(email="newcomer@example.com")
    response = api_client.post(
        "/api/v1/invitations/accept", {"token": chosen_token}, token=newcomer.token
    )
    assert response.status_code == 404
    assert not Membership.objects.filter(user=newcomer.user).exists()
    assert_unchanged(
        before,
        besides=frozenset({"workspaces.invitation", "accounts.user", "accounts.accesstoken"})
        | AUDIT_TABLES,
    )
    assert Invitation.objects.count() == len(before["workspaces.invitation"]) + 1


# --- bots ------------------------------------------------------------------------------------


BOT_FORGERIES = {
    "id": "bot_forged",
    "created_by": "usr_forged",
    "created_by_id": "usr_forged",
    "created_by_email": "forger@example.com",
    "published_version": 7,
    "created_at": LONG_AGO,
    "updated_at": LONG_AGO,
}


def test_creating_a_bot_ignores_creator_version_id_and_another_workspace(
    api_client: ApiClient, rival: World
) -> None:
    world = World(Role.DEVELOPER)
    before = db_snapshot()
    answer = ok(
        api_client.post(
            f"/api/v1/workspaces/{world.id}/bots",
            {
                "name": "Helper",
                "definition": BOT_DEFINITION,
                **BOT_FORGERIES,
                "created_by": {"id": rival.owner.id, "email": rival.owner.email},
                "workspace": rival.id,
                "workspace_id": rival.id,
            },
            token=world.caller.token,
        ),
        201,
    )
    bot = Bot.objects.get(pk=answer["id"])
    assert bot.pk != "bot_forged"
    assert bot.workspace_id == world.id
    assert (bot.created_by_id, bot.created_by_email) == (world.caller.id, world.caller.email)
    assert bot.published_version is None
    assert bot.created_at == bot.updated_at == NOW
    assert not Bot.objects.filter(workspace_id=rival.id).exists()
    assert not BotVersion.objects.exists()
    assert_unchanged(before, besides=frozenset({"bots.bot"}) | AUDIT_TABLES)
    assert Bot.objects.count() == 1


def test_updating_a_bot_changes_only_what_the_schema_names(
    api_client: ApiClient, rival: World
) -> None:
    world = World(Role.DEVELOPER)
    bot = world.bot
    clock.advance(dt.timedelta(minutes=5))
    before = db_snapshot()
    answer = ok(
        api_client.patch(
            f"/api/v1/workspaces/{world.id}/bots/{bot.id}",
            {"description": "Now with prices", **BOT_FORGERIES, "workspace_id": rival.id},
            token=world.caller.token,
        )
    )
    assert (answer["id"], answer["description"]) == (bot.id, "Now with prices")
    assert answer["published_version"] is None
    assert answer["created_by"] == {"id": world.owner.id, "email": world.owner.email}
    assert _changed_fields(before, "bots.bot", Bot) == {
        (bot.id, "description"),
        (bot.id, "updated_at"),
    }
    bot.refresh_from_db()
    assert bot.workspace_id == world.id
    assert bot.updated_at == NOW + dt.timedelta(minutes=5)
    assert_unchanged(before, besides=frozenset({"bots.bot"}) | AUDIT_TABLES)


def test_importing_a_bot_ignores_the_ids_creator_and_version_in_the_document(
    api_client: ApiClient, rival: World
) -> None:
    world = World(Role.DEVELOPER)
    document = {
        "kind": "botyard.bot",
        "format": 1,
        "workspace_id": rival.id,
        "bot": {
            "name": "Imported",
            "description": "",
            "draft": BOT_DEFINITION,
            "versions": [{"number": 41, "definition": BOT_DEFINITION}],
            **BOT_FORGERIES,
            "workspace_id": rival.id,
        },
    }
    answer = ok(
        api_client.post(
            f"/api/v1/workspaces/{world.id}/bots/import", document, token=world.caller.token
        ),
        201,
    )
    bot = Bot.objects.get(pk=answer["id"])
    assert bot.pk != "bot_forged" and bot.workspace_id == world.id
    assert (bot.created_by_id, bot.created_by_email) == (world.caller.id, world.caller.email)
    assert bot.published_version == 1  # one version in the document, numbered from 1
    assert list(bot.versions.values_list("number", flat=True)) == [1]
    assert bot.created_at == NOW
    assert not Bot.objects.filter(workspace_id=rival.id).exists()


# --- billing ---------------------------------------------------------------------------------


def test_setting_a_budget_sets_only_the_budget(api_client: ApiClient) -> None:
    world = World(Role.OWNER, plan="business")
    before = db_snapshot()
    answer = ok(
        api_client.put(
            f"/api/v1/workspaces/{world.id}/billing/budget",
            {
                "amount": 20_000,
                "currency": "eur",
                "plan": "enterprise",
                "pending_plan": "community",
                "past_due": True,
                "custom_message_limit": 10**9,
                "custom_price_cents": 0,
                "custom_bot_limit": 1000,
                "message_limit": 10**9,
            },
            token=world.caller.token,
        )
    )
    assert answer["budget"] == {"amount": 20_000, "currency": "usd"}
    assert answer["plan"]["id"] == "business"
    assert answer["past_due"] is False and answer["pending_plan"] is None
    assert _changed_fields(before, "workspaces.workspace", Workspace) == {
        (world.id, "budget_cents")
    }
    assert_unchanged(before, besides=frozenset({"workspaces.workspace"}) | AUDIT_TABLES)


def test_a_payment_method_takes_its_card_details_from_the_gateway(api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    answer = ok(
        api_client.put(
            f"/api/v1/workspaces/{world.id}/billing/payment-method",
            {"token": "pm_card_visa", "brand": "amex", "last4": "0000", "exp_year": 2099},
            token=world.caller.token,
        )
    )
    assert answer["payment_method"]["brand"] == "visa"
    assert answer["payment_method"]["last4"] == "4242"
    assert answer["payment_method"]["exp_year"] != 2099


# --- accounts --------------------------------------------------------------------------------


def test_signing_up_cannot_make_staff_or_choose_the_id(api_client: ApiClient) -> None:
    before = db_snapshot()
    answer = ok(
        api_client.post(
            "/api/v1/auth/signup",
            {
                "email": "eve@example.com",
                "password": factories.PASSWORD,
                "name": "Eve",
                "id": "usr_forged",
                "is_staff": True,
                "is_superuser": True,
                "is_active": False,
                "created_at": LONG_AGO,
                "last_login": LONG_AGO,
            },
        ),
        201,
    )
    user = User.objects.get(pk=answer["id"])
    assert user.pk != "usr_forged" and not User.objects.filter(pk="usr_forged").exists()
    assert (user.is_staff, user.is_superuser, user.is_active) == (False, False, True)
    assert user.created_at == NOW and user.last_login is None
    assert not user.user_permissions.exists() and not user.groups.exists()
    assert_unchanged(before, besides=frozenset({"accounts.user"}))
    assert User.objects.count() == len(before["accounts.user"]) + 1


def test_a_token_is_always_the_signed_in_users_own(api_client: ApiClient) -> None:
    me, other = person(), person()
    forged = "byt_" + "A" * 43
    answer = ok(
        api_client.post(
            "/api/v1/auth/tokens",
            {
                "email": me.email,
                "password": factories.PASSWORD,
                "name": "cli",
                "id": "tok_forged",
                "user": other.id,
                "user_id": other.id,
                "token": forged,
                "digest": token_digest(forged),
                "created_at": LONG_AGO,
            },
        ),
        201,
    )
    token = AccessToken.objects.get(pk=answer["id"])
    assert token.pk != "tok_forged" and token.user_id == me.id
    assert answer["token"] != forged and token.digest != token_digest(forged)
    assert token.created_at == NOW
    assert AccessToken.objects.filter(user=other.user).count() == 1  # only its own first one
    assert api_client.get("/api/v1/me", token=forged).status_code == 401
