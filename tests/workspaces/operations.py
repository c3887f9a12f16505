"""The operation matrix: every workspace-scoped API route, the permission it needs and how to
make a valid request for it. tests/workspaces/test_permissions.py crosses it with every role
of botyard.workspaces.roles.ROLE_PERMISSIONS; test_api.py uses it for the tenant checks.

A feature that adds a route under /workspaces/{workspace_id} adds one `Operation` to
OPERATIONS (and, if the route acts on something new, a lazily made object on `World`);
test_permissions fails until it does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from botyard.audit.models import AuditEvent
from botyard.billing import services as billing_services
from botyard.billing.closing import billing_close_periods
from botyard.billing.models import Invoice, PaymentMethod
from botyard.billing.periods import add_months
from botyard.bots.models import Bot, BotKey
from botyard.workspaces.models import InvitationStatus, Membership
from botyard.workspaces.roles import Permission, Role
from tests.helpers import ApiClient
from tests.workspaces.world import AUDIT_TABLES, BOT_DEFINITION, PASSWORD, World

P = Permission
WS = "/api/v1/workspaces/{workspace_id}"
BOTS = WS + "/bots"
BOT = BOTS + "/{bot_id}"


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: Any = None

    def send(self, client: ApiClient, *, token: str | None) -> Any:
        if self.method == "GET":
            return client.get(self.url, token=token)
        send = getattr(client, self.method.lower())
        return send(self.url, self.body, token=token)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the template exactly as in the OpenAPI document
    permission: Permission
    success: int
    params: Callable[[World], dict[str, str]] = lambda world: {}
    body: Callable[[World], Any] | None = None
    query: Callable[[World], dict[str, str]] | None = None
    # Roles without the permission answer 403 "forbidden", unless listed here.
    refusals: dict[Role, tuple[int, str]] = field(default_factory=dict)
    # What a successful request must have done (checked after the allowed cases).
    effect: Callable[[World], None] | None = None
    # A GET changes nothing but these tables (an export is audited as "downloaded").
    get_writes: frozenset[str] = frozenset()
    # What a successful answer that has a body is (an invoice PDF is not JSON).
    content_type: str = "application/json"

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path.removeprefix(WS) or '/'}"

    def request(self, world: World) -> Request:
        """A valid request against `world`'s workspace (making what it refers to)."""
        url = self.path.format(workspace_id=world.id, **self.params(world))
        if self.query is not None:
            url += "?" + urlencode(self.query(world))
        body = self.body(world) if self.body is not None else None
        return Request(self.method, url, body)

    def refusal_for(self, role: Role) -> tuple[int, str]:
        return self.refusals.get(role, (403, "forbidden"))


def _role_of(world: World, person_id: str) -> str | None:
    membership = Membership.objects.filter(workspace=world.workspace, user_id=person_id).first()
    return membership.role if membership else None


def _renamed(world: World) -> None:
    assert world.refresh().name == "Renamed"


def _deleted(world: World) -> None:
    assert not type(world.workspace).objects.filter(pk=world.id).exists()


def _left(world: World) -> None:
    assert _role_of(world, world.caller.id) is None


def _transferred(world: World) -> None:
    assert world.refresh().owner_id == world.collaborator.id
    assert _role_of(world, world.collaborator.id) == Role.OWNER
    assert _role_of(world, world.owner.id) == Role.ADMINISTRATOR


def _role_changed(world: World) -> None:
    assert _role_of(world, world.collaborator.id) == Role.DEVELOPER


def _removed(world: World) -> None:
    assert _role_of(world, world.collaborator.id) is None


def _invited(world: World) -> None:
    assert world.workspace.invitations.filter(
        email="new.person@example.com", status=InvitationStatus.PENDING
    ).exists()


def _resent(world: World) -> None:
    before = world.invitation.token_digest
    world.invitation.refresh_from_db()
    assert world.invitation.token_digest != before


def _revoked(world: World) -> None:
    world.invitation.refresh_from_db()
    assert world.invitation.status == InvitationStatus.REVOKED


def _bot_created(world: World) -> None:
    bot = Bot.objects.get(workspace=world.workspace, name="New bot")
    assert bot.created_by_id == world.caller.id


def _bot_imported(world: World) -> None:
    bot = Bot.objects.get(workspace=world.workspace, name="Imported bot")
    assert bot.definition == BOT_DEFINITION
    assert list(bot.versions.values_list("number", flat=True)) == [1]


def _bot_renamed(world: World) -> None:
    world.bot.refresh_from_db()
    assert world.bot.name == "Renamed bot"


def _bot_deleted(world: World) -> None:
    assert not Bot.objects.filter(pk=world.bot.id).exists()


def _bot_published(world: World) -> None:
    world.bot.refresh_from_db()
    assert world.bot.published_version == 1
    assert list(world.bot.versions.values_list("number", flat=True)) == [1]


def _bot_exported(world: World) -> None:
    event = AuditEvent.objects.filter(workspace_id=world.id).latest("seq")
    assert (event.event, event.target_id) == ("bot.exported", world.bot.id)


def _key_created(world: World) -> None:
    assert world.bot.keys.filter(name="Chat widget").exists()


def _key_revoked(world: World) -> None:
    assert not BotKey.objects.filter(pk=world.key.id).exists()


def _bot(world: World) -> dict[str, str]:
    return {"bot_id": world.bot.id}


def _key(world: World) -> dict[str, str]:
    return {"bot_id": world.bot.id, "key_id": world.key.id}


def _export_document(world: World) -> dict[str, Any]:
    """What GET …/export of another botyard answers, trimmed to what import reads."""
    return {
        "kind": "botyard.bot",
        "format": 1,
        "bot": {
            "name": "Imported bot",
            "description": "",
            "draft": BOT_DEFINITION,
            "versions": [{"number": 1, "definition": BOT_DEFINITION}],
        },
    }


def _upgraded(world: World) -> None:
    assert world.refresh().plan == "business"


def _card_set(world: World) -> None:
    assert PaymentMethod.objects.get(workspace=world.workspace).brand == "mastercard"


def _card_removed(world: World) -> None:
    assert not PaymentMethod.objects.filter(workspace=world.workspace).exists()


def _budget_set(world: World) -> None:
    assert world.refresh().budget_cents == 12_000


def _invoice_downloaded(world: World) -> None:
    event = AuditEvent.objects.filter(workspace_id=world.id).latest("seq")
    invoice = Invoice.objects.get(workspace=world.workspace)
    assert (event.event, event.target_id) == ("billing.invoice_downloaded", invoice.id)


def _with_card(world: World) -> dict[str, str]:
    """The owner has given the workspace a card (an upgrade needs one)."""
    if not PaymentMethod.objects.filter(workspace=world.workspace).exists():
        billing_services.payment_method_set(
            actor=world.owner.actor, workspace_id=world.id, token="pm_card_visa"
        )
    return {}


def _on_business(world: World) -> dict[str, str]:
    """The owner has moved the workspace to Business (a budget caps a paid plan's bill)."""
    _with_card(world)
    if world.refresh().plan != "business":
        billing_services.plan_change(
            actor=world.owner.actor, workspace_id=world.id, plan_id="business"
        )
    return {}


def _invoice(world: World) -> dict[str, str]:
    """An invoice: the workspace's first Business period, closed."""
    invoice = Invoice.objects.filter(workspace=world.workspace).first()
    if invoice is None:
        _on_business(world)
        billing_close_periods(now=add_months(world.refresh().plan_started_at, 1))
        invoice = Invoice.objects.get(workspace=world.workspace)
    return {"invoice_id": invoice.id}


def _collaborator(world: World) -> dict[str, str]:
    return {"user_id": world.collaborator.id}


def _invitation(world: World) -> dict[str, str]:
    return {"invitation_id": world.invitation.id}


def _audit_exported(world: World) -> None:
    event = AuditEvent.objects.filter(workspace_id=world.id).latest("seq")
    assert (event.event, event.target_id) == ("audit.exported", world.id)
    assert event.details == {"format": "jsonl", "filters": []}


OPERATIONS: list[Operation] = [
    Operation("GET", WS, P.WORKSPACE_VIEW, 200),
    Operation("PATCH", WS, P.WORKSPACE_RENAME, 200,
              body=lambda w: {"name": "Renamed"}, effect=_renamed),
    Operation("DELETE", WS, P.WORKSPACE_DELETE, 204,
              body=lambda w: {"confirm": w.workspace.name}, effect=_deleted),
    Operation("POST", WS + "/leave", P.WORKSPACE_LEAVE, 204, effect=_left,
              refusals={Role.OWNER: (409, "owner_cannot_leave")}),
    Operation("POST", WS + "/transfer", P.WORKSPACE_TRANSFER, 200,
              body=lambda w: {"email": w.collaborator.email, "password": PASSWORD},
              effect=_transferred),
    Operation("GET", WS + "/collaborators", P.WORKSPACE_VIEW, 200),
    Operation("PATCH", WS + "/collaborators/{user_id}", P.COLLABORATOR_MANAGE, 200,
              params=_collaborator, body=lambda w: {"role": "developer"},
              effect=_role_changed),
    Operation("DELETE", WS + "/collaborators/{user_id}", P.COLLABORATOR_MANAGE, 204,
              params=_collaborator, effect=_removed),
    Operation("GET", WS + "/invitations", P.COLLABORATOR_MANAGE, 200),
    Operation("POST", WS + "/invitations", P.COLLABORATOR_MANAGE, 201,
              body=lambda w: {"email": "new.person@example.com", "role": "viewer"},
              effect=_invited),
    Operation("POST", WS + "/invitations/{invitation_id}/resend", P.COLLABORATOR_MANAGE, 200,
              params=_invitation, effect=_resent),
    Operation("DELETE", WS + "/invitations/{invitation_id}", P.COLLABORATOR_MANAGE, 204,
              params=_invitation, effect=_revoked),
    Operation("GET", BOTS, P.BOT_VIEW, 200),
    Operation("POST", BOTS, P.BOT_CREATE, 201,
              body=lambda w: {"name": "New bot"}, effect=_bot_created),
    Operation("POST", BOTS + "/import", P.BOT_CREATE, 201,
              body=_export_document, effect=_bot_imported),
    Operation("GET", BOT, P.BOT_VIEW, 200, params=_bot),
    Operation("PATCH", BOT, P.BOT_UPDATE, 200, params=_bot,
              body=lambda w: {"name": "Renamed bot"}, effect=_bot_renamed),
    # The owner's bot: a developer (BOT_DELETE_OWN) may not delete it. tests/bots/test_api.py
    # covers a developer deleting their own.
    Operation("DELETE", BOT, P.BOT_DELETE_ANY, 204, params=_bot, effect=_bot_deleted),
    Operation("POST", BOT + "/publish", P.BOT_UPDATE, 200, params=_bot,
              effect=_bot_published),
    Operation("GET", BOT + "/export", P.BOT_EXPORT, 200, params=_bot,
              effect=_bot_exported, get_writes=AUDIT_TABLES),
    Operation("GET", BOT + "/keys", P.BOT_UPDATE, 200, params=_bot),
    Operation("POST", BOT + "/keys", P.BOT_UPDATE, 201, params=_bot,
              body=lambda w: {"name": "Chat widget"}, effect=_key_created),
    Operation("DELETE", BOT + "/keys/{key_id}", P.BOT_UPDATE, 204, params=_key,
              effect=_key_revoked),
    Operation("GET", BOT + "/analytics", P.BOT_VIEW, 200, params=_bot,
              query=lambda w: {"since": "2026-01-01", "until": "2026-01-31"}),
    Operation("GET", WS + "/billing", P.BILLING_VIEW, 200),
    Operation("PUT", WS + "/billing/plan", P.BILLING_CHANGE, 200, params=_with_card,
              body=lambda w: {"plan": "business"}, effect=_upgraded),
    Operation("PUT", WS + "/billing/payment-method", P.BILLING_CHANGE, 200,
              body=lambda w: {"token": "pm_card_mastercard"}, effect=_card_set),
    Operation("DELETE", WS + "/billing/payment-method", P.BILLING_CHANGE, 204,
              params=_with_card, effect=_card_removed),
    Operation("PUT", WS + "/billing/budget", P.BILLING_CHANGE, 200, params=_on_business,
              body=lambda w: {"amount": 12_000}, effect=_budget_set),
    Operation("GET", WS + "/invoices", P.BILLING_VIEW, 200),
    Operation("GET", WS + "/invoices/{invoice_id}", P.BILLING_VIEW, 200, params=_invoice),
    Operation("GET", WS + "/invoices/{invoice_id}/pdf", P.BILLING_CHANGE, 200, params=_invoice,
              effect=_invoice_downloaded, get_writes=AUDIT_TABLES,
              content_type="application/pdf"),
    Operation("GET", WS + "/audits", P.AUDIT_VIEW, 200),
    Operation("GET", WS + "/audits/export", P.AUDIT_VIEW, 200,
              query=lambda w: {"format": "jsonl"}, effect=_audit_exported,
              get_writes=AUDIT_TABLES, content_type="application/x-ndjson"),
]  # fmt: skip
