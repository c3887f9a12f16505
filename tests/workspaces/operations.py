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

from botyard.workspaces.models import InvitationStatus, Membership
from botyard.workspaces.roles import Permission, Role
from tests.helpers import ApiClient
from tests.workspaces.world import PASSWORD, World

P = Permission
WS = "/api/v1/workspaces/{workspace_id}"


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


def _collaborator(world: World) -> dict[str, str]:
    return {"user_id": world.collaborator.id}


def _invitation(world: World) -> dict[str, str]:
    return {"invitation_id": world.invitation.id}


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
]  # fmt: skip
