"""Tenant-scoped access: every workspace-scoped request starts here."""

from __future__ import annotations

from dataclasses import dataclass

from botyard.accounts.models import User
from botyard.core.errors import NotFound, PermissionDenied
from botyard.workspaces.models import Membership, Workspace
from botyard.workspaces.roles import Permission, Role, has_permission


@dataclass(frozen=True)
class Access:
    """The caller's membership of one workspace, fetched through that membership."""

    workspace: Workspace
    membership: Membership

    @property
    def user(self) -> User:
        return self.membership.user

    @property
    def role(self) -> Role:
        return Role(self.membership.role)

    def can(self, permission: Permission) -> bool:
        return has_permission(self.membership.role, permission)


def workspace_not_found() -> NotFound:
    return NotFound("No such workspace.", code="workspace_not_found")


def access_workspace(user: User, workspace_id: str, *, for_update: bool = False) -> Access:
    """The workspace as seen by `user`. Non-members get exactly the answer a missing
    workspace gets, so that nothing about other tenants leaks."""
    if not user.is_authenticated:
        raise workspace_not_found()
    memberships = Membership.objects.select_related("workspace", "workspace__owner", "user")
    if for_update:
        # FOR NO KEY UPDATE, as every lock here: it serialises changes of this workspace but
        # not a transaction that only references the row, whose foreign-key check takes
        # KEY SHARE (at COMMIT: Django's constraints are deferred). FOR UPDATE would
        # conflict with that check and deadlock with a transaction holding the chain head.
        memberships = memberships.select_for_update(of=("self", "workspace"), no_key=True)
    membership = memberships.filter(workspace_id=workspace_id, user=user).first()
    if membership is None:
        raise workspace_not_found()
    return Access(workspace=membership.workspace, membership=membership)


def require(access: Access, permission: Permission) -> None:
    if not access.can(permission):
        raise PermissionDenied(
            f"Your role ({access.role.label}) does not allow this.", code="forbidden"
        )
