"""Workspace reads. Each list is one query (plus one for the page's count annotations)."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from botyard.accounts.models import User
from botyard.billing.plans import plan
from botyard.core import clock
from botyard.workspaces.access import Access, require
from botyard.workspaces.models import Invitation, InvitationStatus, Membership, Workspace
from botyard.workspaces.roles import Permission


def bot_limit_of(workspace: Workspace) -> int:
    if workspace.custom_bot_limit is not None:
        return workspace.custom_bot_limit
    return plan(workspace.plan).bot_limit


def membership_list_for(*, user: User) -> QuerySet[Membership]:
    """The caller's memberships, with their workspaces, owners and bot counts."""
    return (
        Membership.objects.filter(user=user)
        .select_related("workspace", "workspace__owner")
        .annotate(bot_count=Count("workspace__bots", distinct=True))
    )


def workspace_bot_count(workspace: Workspace) -> int:
    return workspace.bots.count()


def collaborator_list(*, access: Access) -> QuerySet[Membership]:
    require(access, Permission.WORKSPACE_VIEW)
    return Membership.objects.filter(workspace=access.workspace).select_related("user")


def invitation_list(*, access: Access) -> QuerySet[Invitation]:
    require(access, Permission.COLLABORATOR_MANAGE)
    return Invitation.objects.filter(
        workspace=access.workspace,
        status=InvitationStatus.PENDING,
        expires_at__gt=clock.now(),
    )


def invitations_for_me(*, user: User) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        email=user.email, status=InvitationStatus.PENDING, expires_at__gt=clock.now()
    ).select_related("workspace")
