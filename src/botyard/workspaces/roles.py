"""Roles and permissions: the one table of product.md §3.

Services call `require(membership, Permission.X)`; templates ask `can(role, "x")`;
the tests are generated from ROLE_PERMISSIONS. Nothing else decides who may do what.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    BILLING_MANAGER = "billing_manager"
    DEVELOPER = "developer"
    MANAGER = "manager"
    ADMINISTRATOR = "administrator"
    OWNER = "owner"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Permission(StrEnum):
    WORKSPACE_VIEW = "workspace_view"  # name, owner, plan, collaborator list
    BOT_VIEW = "bot_view"  # list, details, versions, analytics
    BOT_CREATE = "bot_create"
    BOT_UPDATE = "bot_update"  # update, publish, manage keys
    BOT_EXPORT = "bot_export"
    BOT_DELETE_OWN = "bot_delete_own"
    BOT_DELETE_ANY = "bot_delete_any"
    AUDIT_VIEW = "audit_view"  # and export
    BILLING_VIEW = "billing_view"
    BILLING_CHANGE = "billing_change"  # plan, payment method, budget, invoice downloads
    COLLABORATOR_MANAGE = "collaborator_manage"  # invite, remove, change roles, revoke
    WORKSPACE_RENAME = "workspace_rename"
    WORKSPACE_DELETE = "workspace_delete"
    WORKSPACE_TRANSFER = "workspace_transfer"
    WORKSPACE_LEAVE = "workspace_leave"


P = Permission
_DEVELOPER = {P.WORKSPACE_VIEW, P.BOT_VIEW, P.BOT_CREATE, P.BOT_UPDATE, P.BOT_EXPORT,
              P.BOT_DELETE_OWN, P.WORKSPACE_LEAVE}  # fmt: skip
_BILLING = {P.BILLING_VIEW, P.BILLING_CHANGE}
_MANAGER = _DEVELOPER | _BILLING | {P.BOT_DELETE_ANY, P.AUDIT_VIEW}
_ADMINISTRATOR = _MANAGER | {P.COLLABORATOR_MANAGE, P.WORKSPACE_RENAME}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({P.WORKSPACE_VIEW, P.BOT_VIEW, P.WORKSPACE_LEAVE}),
    Role.BILLING_MANAGER: frozenset({P.WORKSPACE_VIEW, P.WORKSPACE_LEAVE} | _BILLING),
    Role.DEVELOPER: frozenset(_DEVELOPER),
    Role.MANAGER: frozenset(_MANAGER),
    Role.ADMINISTRATOR: frozenset(_ADMINISTRATOR),
    Role.OWNER: frozenset(
        (_ADMINISTRATOR - {P.WORKSPACE_LEAVE}) | {P.WORKSPACE_DELETE, P.WORKSPACE_TRANSFER}
    ),
}

# Roles an invitation or a role change may grant: never the owner's.
ASSIGNABLE_ROLES: tuple[Role, ...] = tuple(r for r in Role if r is not Role.OWNER)


def has_permission(role: str, permission: Permission) -> bool:
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False


def roles_with(permission: Permission) -> frozenset[Role]:
    return frozenset(role for role, perms in ROLE_PERMISSIONS.items() if permission in perms)
