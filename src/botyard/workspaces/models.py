from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q

from botyard.accounts.models import User
from botyard.billing.plans import PlanId
from botyard.core import clock
from botyard.core.ids import new_id
from botyard.workspaces.roles import Role


def new_workspace_id() -> str:
    return new_id("ws")


def new_invitation_id() -> str:
    return new_id("ivt")


class Workspace(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_workspace_id, editable=False)
    name = models.CharField(max_length=64)
    # A single non-null column: a workspace cannot have zero or two owners. The owner's
    # membership (role "owner") is kept in step by the services; a partial unique index on
    # Membership makes a second owner membership impossible as well.
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="owned_workspaces")
    plan = models.CharField(max_length=16, choices=[(p.value, p.value) for p in PlanId])
    plan_started_at = models.DateTimeField(default=clock.now)
    created_at = models.DateTimeField(default=clock.now)
    # Enterprise terms, set by platform staff in the admin; null means the plan default.
    custom_bot_limit = models.PositiveIntegerField(null=True, blank=True)
    custom_message_limit = models.PositiveIntegerField(null=True, blank=True)
    custom_price_cents = models.PositiveIntegerField(null=True, blank=True)
    # The most the workspace may be billed a month (cents); null means no cap.
    budget_cents = models.PositiveIntegerField(null=True, blank=True)
    # A downgrade waits for the end of the period; the plan it will take then.
    pending_plan = models.CharField(
        max_length=16, blank=True, default="", choices=[(p.value, p.value) for p in PlanId]
    )
    # Three failed charges of one invoice mark the workspace past due until it is paid.
    past_due = models.BooleanField(default=False)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["owner", "plan"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=[(r.value, r.value) for r in Role])
    joined_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["workspace", "user"], name="one_membership_per_user"),
            models.UniqueConstraint(
                fields=["workspace"], condition=Q(role="owner"), name="one_owner_per_workspace"
            ),
            models.CheckConstraint(
                condition=Q(role__in=[r.value for r in Role]), name="membership_role_valid"
            ),
        ]
        indexes: ClassVar = [models.Index(fields=["user", "workspace"])]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.workspace_id} as {self.role}"


class InvitationStatus(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Invitation(models.Model):
    id = models.CharField(
        primary_key=True, max_length=32, default=new_invitation_id, editable=False
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=16, choices=[(r.value, r.value) for r in Role])
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    invited_by_email = models.EmailField(max_length=254)
    status = models.CharField(
        max_length=16, choices=InvitationStatus.choices, default=InvitationStatus.PENDING
    )
    # sha256 of the secret in the link; the secret itself is derived, never stored.
    token_digest = models.CharField(max_length=64, unique=True)
    token_nonce = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField()
    sent_count_window_start = models.DateTimeField(default=clock.now)
    sent_count = models.PositiveSmallIntegerField(default=1)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=Q(status="pending"),
                name="one_pending_invitation_per_email",
            ),
            models.CheckConstraint(
                condition=~Q(role="owner"), name="invitation_never_grants_owner"
            ),
        ]
        indexes: ClassVar = [models.Index(fields=["email", "status"])]

    def __str__(self) -> str:
        return f"{self.email} to {self.workspace_id}"


class WorkspaceTombstone(models.Model):
    """What platform staff keep of a deleted workspace: no bot content, only counts."""

    workspace_id = models.CharField(max_length=32, db_index=True)
    name = models.CharField(max_length=64)
    owner_email = models.EmailField(max_length=254)
    deleted_at = models.DateTimeField()
    erased_counts = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"{self.name} ({self.workspace_id}), deleted {self.deleted_at:%Y-%m-%d}"
