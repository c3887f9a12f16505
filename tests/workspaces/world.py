"""Building blocks for the workspace tests: a workspace with a caller in a given role, and
a snapshot of the whole database to prove that a refused request changed nothing.

Everything here goes through the services, so each row is one the application itself
could have made: members join by invitation and acceptance, as real collaborators do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.apps import apps
from django.db import models

from botyard.accounts.models import User
from botyard.bots import services as bot_services
from botyard.bots.models import Bot, BotKey
from botyard.core.actor import Actor
from botyard.workspaces import services
from botyard.workspaces.models import Invitation, Membership, Workspace
from botyard.workspaces.roles import Role
from botyard.workspaces.tokens import invitation_token
from tests import factories

PASSWORD = factories.PASSWORD

# Fields that a request may touch without changing anything a user would call state.
IGNORED_FIELDS: dict[str, frozenset[str]] = {
    "accounts.accesstoken": frozenset({"last_used_at"}),
    "accounts.user": frozenset({"last_login"}),
}
# Tables no workspace request has any business with, and that Django fills by itself.
IGNORED_MODELS = frozenset({"contenttypes.contenttype", "auth.permission", "sessions.session"})
# What an audited read (a download) writes: its event, the chain's new head and, for a
# first-time actor, its entry in the actor directory.
AUDIT_TABLES = frozenset({"audit.auditevent", "audit.auditchainhead", "audit.auditactor"})

# A small format-1 definition: two intents and a fallback.
BOT_DEFINITION: dict[str, Any] = {
    "format": 1,
    "greeting": "Hi! Ask me about opening hours or prices.",
    "fallback": "Sorry, I can only talk about opening hours and prices.",
    "intents": [
        {
            "name": "hours",
            "examples": ["when are you open", "opening hours"],
            "reply": "We are open 9 to 5, Monday to Friday.",
        },
        {
            "name": "prices",
            "examples": ["how much does it cost", "prices"],
            "reply": "Plans start at $0.",
        },
    ],
}


@dataclass(frozen=True)
class Person:
    user: User
    token: str

    @property
    def id(self) -> str:
        return self.user.pk

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def actor(self) -> Actor:
        return Actor(user=self.user, address="203.0.113.7")


def person(*, email: str | None = None, name: str | None = None) -> Person:
    user = factories.user(email=email, name=name)
    return Person(user=user, token=factories.token_secret(user=user))


def token_of(invitation: Invitation) -> str:
    """The secret of the invitation's current link (what its email carries)."""
    return invitation_token(invitation.id, invitation.token_nonce)


def join(workspace: Workspace, *, by: Person, who: Person, role: Role) -> Membership:
    """`by` invites `who`, and `who` accepts: the one way into a workspace."""
    invitation = services.invitation_create(
        actor=by.actor, workspace_id=workspace.id, email=who.email, role=role
    )
    return services.invitation_accept(actor=who.actor, token=token_of(invitation))


class World:
    """A workspace ("Acme", owned by `owner`) and `caller`: its owner, a collaborator with
    `role`, or (role None) an outsider who is not a collaborator at all.

    The objects an operation acts on (`collaborator`, `invitation`, …) are made when first
    asked for, so a test makes only what its operation needs. A feature that adds
    workspace-scoped routes adds the objects its routes need here, the same way.
    """

    def __init__(self, role: Role | None, *, name: str = "Acme", plan: str = "community") -> None:
        self.role = role
        self.owner = person(name="Olive Owner")
        payment = "pm_card_visa" if plan == "business" else None
        self.workspace = services.workspace_create(
            actor=self.owner.actor, name=name, plan_id=plan, payment_token=payment
        )
        if role is Role.OWNER:
            self.caller = self.owner
        else:
            self.caller = person(name="Carl Caller")
            if role is not None:
                join(self.workspace, by=self.owner, who=self.caller, role=role)

    @property
    def id(self) -> str:
        return self.workspace.id

    def add(self, role: Role, **kwargs: Any) -> Person:
        someone = person(**kwargs)
        join(self.workspace, by=self.owner, who=someone, role=role)
        return someone

    def refresh(self) -> Workspace:
        self.workspace.refresh_from_db()
        return self.workspace

    @cached_property
    def collaborator(self) -> Person:
        """A viewer who is neither the owner nor the caller: someone to manage."""
        return self.add(Role.VIEWER, name="Vera Viewer")

    @cached_property
    def invitation(self) -> Invitation:
        """A pending invitation, sent by the owner."""
        return services.invitation_create(
            actor=self.owner.actor,
            workspace_id=self.id,
            email="pending.invitee@example.com",
            role=Role.DEVELOPER,
        )

    @cached_property
    def bot(self) -> Bot:
        """A bot the owner created: a developer caller may change it but not delete it."""
        return bot_services.bot_create(
            actor=self.owner.actor, workspace_id=self.id, name="Helper", definition=BOT_DEFINITION
        )

    @cached_property
    def _issued_key(self) -> tuple[BotKey, str]:
        return bot_services.bot_key_create(
            actor=self.owner.actor, workspace_id=self.id, bot_id=self.bot.id, name="Website"
        )

    @property
    def key(self) -> BotKey:
        """A key of `bot`, issued by the owner."""
        return self._issued_key[0]

    @property
    def key_secret(self) -> str:
        return self._issued_key[1]


# --- the whole database, row by row ---------------------------------------------------


def _comparable(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def db_snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but a few columns that reads touch), in a comparable form.
    Equal snapshots before and after a request mean the request changed nothing at all."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in IGNORED_MODELS:
            continue
        ignored = IGNORED_FIELDS.get(label, frozenset())
        names = [f.attname for f in model._meta.concrete_fields if f.name not in ignored]
        rows = model._default_manager.order_by("pk").values_list(*names)
        snapshot[label] = [tuple(_comparable(v) for v in row) for row in rows]
    return snapshot


def assert_unchanged(
    before: dict[str, list[tuple[Any, ...]]], *, besides: frozenset[str] = frozenset()
) -> None:
    """No table changed since `before`, but those named in `besides`."""
    after = db_snapshot()
    changed = {
        label for label in before.keys() | after.keys() if before.get(label) != after.get(label)
    }
    assert not changed - besides, f"tables changed: {sorted(changed - besides)}"


def workspace_foreign_keys() -> list[tuple[type[models.Model], models.Field[Any, Any]]]:
    """Every (model, field) that points at a Workspace."""
    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model is Workspace
    ]


def rows_mentioning(value: str, *, exclude: frozenset[str] = frozenset()) -> list[str]:
    """`model.field` for every row anywhere whose foreign key to a workspace, text column or
    JSON column holds `value`: what must not exist after the workspace is erased."""
    found: list[str] = []
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in exclude:
            continue
        manager = model._default_manager
        for field in model._meta.concrete_fields:
            where = f"{label}.{field.name}"
            if field.is_relation:
                if (
                    field.related_model is Workspace
                    and manager.filter(**{field.attname: value}).exists()
                ):
                    found.append(where)
            elif isinstance(field, models.CharField | models.TextField):
                if manager.filter(**{f"{field.attname}__contains": value}).exists():
                    found.append(where)
            elif isinstance(field, models.JSONField):
                values = manager.values_list(field.attname, flat=True)
                if any(value in json.dumps(v, default=str) for v in values):
                    found.append(where)
    return found
