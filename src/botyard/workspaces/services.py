"""Workspace, collaborator and invitation writes (product.md §2, §3)."""

from __future__ import annotations

import datetime as dt
from functools import partial

from django.db import IntegrityError, connection, transaction

from botyard.accounts.models import User, normalize_email
from botyard.accounts.services import clean_email
from botyard.audit.models import Action, TargetType
from botyard.audit.services import audit_record
from botyard.billing.gateway import get_gateway
from botyard.billing.models import PaymentMethod
from botyard.billing.plans import PlanId, plan
from botyard.core import clock
from botyard.core.actor import Actor
from botyard.core.errors import (
    Conflict,
    Gone,
    NotFound,
    PermissionDenied,
    Throttled,
    ValidationFailed,
)
from botyard.core.names import clean_name
from botyard.workspaces import tasks
from botyard.workspaces.access import Access, access_workspace, require
from botyard.workspaces.models import (
    Invitation,
    InvitationStatus,
    Membership,
    Workspace,
    WorkspaceTombstone,
)
from botyard.workspaces.roles import ASSIGNABLE_ROLES, Permission, Role
from botyard.workspaces.tokens import invitation_token, new_nonce, token_digest

INVITATION_LIFETIME = dt.timedelta(days=7)
RESEND_WINDOW = dt.timedelta(hours=1)
RESENDS_PER_WINDOW = 3


# --- workspaces -------------------------------------------------------------------------


def _lock_user(user: User) -> None:
    # Serialises one user's concurrent creates and transfers, so the per-user limit of
    # Community workspaces holds under concurrency (SQLite serialises all writers anyway).
    User.objects.select_for_update(no_key=True).filter(pk=user.pk).first()


def _check_may_own_another(user: User, plan_id: PlanId) -> None:
    limit = plan(plan_id).max_owned_per_user
    if limit is None:
        return
    owned = Workspace.objects.filter(owner=user, plan=plan_id).count()
    if owned >= limit:
        raise Conflict(
            f"{user.email} already owns {owned} {plan(plan_id).name} workspace"
            f"{'s' if owned != 1 else ''}, the most the plan allows. Upgrade the existing "
            "workspace to Business, or create the new one on Business (it needs a payment "
            "method).",
            code="workspace_limit_reached",
        )


def _clean_plan(value: str) -> PlanId:
    try:
        plan_id = PlanId(value)
    except ValueError:
        raise ValidationFailed.field(
            "plan", "Choose community or business.", code="invalid_plan"
        ) from None
    if not plan(plan_id).self_serve:
        raise ValidationFailed.field(
            "plan", "Enterprise is arranged with platform staff.", code="invalid_plan"
        )
    return plan_id


def workspace_create(
    *, actor: Actor, name: str, plan_id: str = PlanId.COMMUNITY, payment_token: str | None = None
) -> Workspace:
    workspace_name = clean_name(name)
    chosen = _clean_plan(plan_id)
    card = None
    if chosen is PlanId.BUSINESS:
        if not payment_token:
            raise Conflict(
                "The Business plan needs a payment method.", code="payment_method_required"
            )
        card = get_gateway().attach(payment_token)
    with transaction.atomic():
        _lock_user(actor.user)
        _check_may_own_another(actor.user, chosen)
        now = clock.now()
        workspace = Workspace.objects.create(
            name=workspace_name, owner=actor.user, plan=chosen, plan_started_at=now, created_at=now
        )
        Membership.objects.create(
            workspace=workspace, user=actor.user, role=Role.OWNER, joined_at=now
        )
        audit_record(
            workspace=workspace, actor=actor, action=Action.ADDED,
            target_type=TargetType.CONFIGURATION, target_id=workspace.id,
            target_label=workspace.name, event="workspace.created",
            details={"name": workspace.name, "plan": chosen.value},
        )  # fmt: skip
        if card is not None:
            PaymentMethod.objects.create(
                workspace=workspace, gateway_token=card.token, brand=card.brand,
                last4=card.last4, exp_month=card.exp_month, exp_year=card.exp_year,
            )  # fmt: skip
            audit_record(  # product.md §7: a payment method change is "updated"
                workspace=workspace, actor=actor, action=Action.UPDATED,
                target_type=TargetType.CONFIGURATION, target_id=workspace.id,
                target_label=workspace.name, event="billing.payment_method_added",
                details={"brand": card.brand, "last4": card.last4},
            )  # fmt: skip
    return workspace


def workspace_rename(*, actor: Actor, workspace_id: str, name: str) -> Workspace:
    new_name = clean_name(name)
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id, for_update=True)
        require(access, Permission.WORKSPACE_RENAME)
        workspace = access.workspace
        before = workspace.name
        if before == new_name:
            return workspace
        workspace.name = new_name
        workspace.save(update_fields=["name"])
        audit_record(
            workspace=workspace, actor=actor, action=Action.UPDATED,
            target_type=TargetType.CONFIGURATION, target_id=workspace.id,
            target_label=new_name, event="workspace.renamed",
            details={"before": before, "after": new_name},
        )  # fmt: skip
    return workspace


def workspace_delete(*, actor: Actor, workspace_id: str, confirm: str) -> WorkspaceTombstone:
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id, for_update=True)
        require(access, Permission.WORKSPACE_DELETE)
        workspace = access.workspace
        if (confirm or "").strip() != workspace.name:
            raise Conflict(
                "Type the workspace's name exactly to confirm the deletion.",
                code="confirmation_mismatch",
                errors=[{"field": "confirm", "message": "This does not match the name."}],
            )
        owner_email = workspace.owner.email
        with _erasing(workspace.id):
            _, deleted = workspace.delete()
        counts = {label.split(".")[-1].lower(): n for label, n in deleted.items() if n}
        return WorkspaceTombstone.objects.create(
            workspace_id=workspace_id, name=workspace.name, owner_email=owner_email,
            deleted_at=clock.now(), erased_counts=counts,
        )  # fmt: skip


class _erasing:
    """Marks the transaction as a workspace erasure, the one case in which the audit
    table's PostgreSQL trigger lets audit rows be deleted."""

    def __init__(self, workspace_id: str) -> None:
        self.workspace_id = workspace_id

    def __enter__(self) -> None:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('botyard.erasing_workspace', %s, true)", [self.workspace_id]
                )

    def __exit__(self, *exc: object) -> None:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('botyard.erasing_workspace', '', true)")


def workspace_leave(*, actor: Actor, workspace_id: str) -> None:
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id, for_update=True)
        if access.role is Role.OWNER:
            raise Conflict(
                "The owner cannot leave the workspace. Transfer ownership first, or delete "
                "the workspace.",
                code="owner_cannot_leave",
            )
        require(access, Permission.WORKSPACE_LEAVE)
        _remove_membership(actor, access, access.membership, event="collaborator.left")


def workspace_transfer(*, actor: Actor, workspace_id: str, email: str, password: str) -> Workspace:
    target_email = normalize_email(email or "")
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id, for_update=True)
        require(access, Permission.WORKSPACE_TRANSFER)
        if not actor.user.check_password(password or ""):
            raise PermissionDenied(
                "Your password is incorrect.", code="password_incorrect",
                errors=[{"field": "password", "message": "Your password is incorrect."}],
            )  # fmt: skip
        workspace = access.workspace
        # No address holds a NUL, and PostgreSQL text cannot even be compared with one.
        new_owner_membership = (
            None
            if "\x00" in target_email
            else Membership.objects.select_for_update(no_key=True)
            .select_related("user")
            .filter(workspace=workspace, user__email=target_email)
            .first()
        )
        if new_owner_membership is None:
            raise ValidationFailed.field(
                "email", "That person is not a collaborator of this workspace.",
                code="not_a_collaborator",
            )  # fmt: skip
        if new_owner_membership.user_id == actor.user.pk:
            raise ValidationFailed.field(
                "email", "You already own this workspace.", code="not_a_collaborator"
            )
        new_owner = new_owner_membership.user
        _lock_user(new_owner)
        _check_may_own_another(new_owner, PlanId(workspace.plan))
        previous_role = new_owner_membership.role
        # Demote first: the partial unique index allows one owner membership at a time.
        Membership.objects.filter(pk=access.membership.pk).update(role=Role.ADMINISTRATOR)
        Membership.objects.filter(pk=new_owner_membership.pk).update(role=Role.OWNER)
        workspace.owner = new_owner
        workspace.save(update_fields=["owner"])
        audit_record(
            workspace=workspace, actor=actor, action=Action.UPDATED,
            target_type=TargetType.CONFIGURATION, target_id=workspace.id,
            target_label=workspace.name, event="workspace.ownership_transferred",
            details={
                "before": actor.user.email, "after": new_owner.email,
                "new_owner_previous_role": previous_role,
            },
        )  # fmt: skip
    return workspace


# --- collaborators ----------------------------------------------------------------------


def _clean_role(value: str) -> Role:
    try:
        role = Role(value)
    except ValueError:
        role = None
    if role is None or role not in ASSIGNABLE_ROLES:
        choices = ", ".join(r.value for r in ASSIGNABLE_ROLES)
        raise ValidationFailed.field(
            "role", f"Choose one of: {choices}. Ownership moves only by transfer.",
            code="invalid_role",
        )  # fmt: skip
    return role


def _managed_membership(access: Access, user_id: str) -> Membership:
    require(access, Permission.COLLABORATOR_MANAGE)
    membership = (
        Membership.objects.select_for_update(no_key=True)
        .select_related("user")
        .filter(workspace=access.workspace, user_id=user_id)
        .first()
    )
    if membership is None:
        raise NotFound("No such collaborator.", code="collaborator_not_found")
    if membership.role == Role.OWNER:
        raise PermissionDenied("Nobody can change or remove the owner.", code="cannot_manage_owner")
    return membership


def collaborator_change_role(
    *, actor: Actor, workspace_id: str, user_id: str, role: str
) -> Membership:
    new_role = _clean_role(role)
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id, for_update=True)
        require(access, Permission.COLLABORATOR_MANAGE)
        if user_id == actor.user.pk:
            raise PermissionDenied(
                "You cannot change your own role.", code="cannot_change_own_role"
            )
        membership = _managed_membership(access, user_id)
        before = membership.role
        if before != new_role:
            membership.role = new_role
            membership.save(update_fields=["role"])
            audit_record(
                workspace=access.workspace, actor=actor, action=Action.UPDATED,
                target_type=TargetType.COLLABORATOR, target_id=membership.user_id,
                target_label=membership.user.email, event="collaborator.role_changed",
                details={"before": before, "after": new_role.value},
            )  # fmt: skip
    return membership


def collaborator_remove(*, actor: Actor, workspace_id: str, user_id: str) -> None:
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id, for_update=True)
        membership = _managed_membership(access, user_id)
        event = (
            "collaborator.left" if membership.user_id == actor.user.pk else "collaborator.removed"
        )
        _remove_membership(actor, access, membership, event=event)


def _remove_membership(actor: Actor, access: Access, membership: Membership, *, event: str) -> None:
    email, role = membership.user.email, membership.role
    membership.delete()
    audit_record(
        workspace=access.workspace, actor=actor, action=Action.REMOVED,
        target_type=TargetType.COLLABORATOR, target_id=membership.user_id,
        target_label=email, event=event, details={"role": role},
    )  # fmt: skip


# --- invitations ------------------------------------------------------------------------


def _expire_stale(workspace: Workspace, email: str | None = None) -> None:
    stale = Invitation.objects.filter(
        workspace=workspace, status=InvitationStatus.PENDING, expires_at__lte=clock.now()
    )
    if email is not None:
        stale = stale.filter(email=email)
    stale.update(status=InvitationStatus.EXPIRED)


def _queue_email(invitation: Invitation) -> None:
    transaction.on_commit(
        partial(tasks.send_invitation_email.enqueue, invitation.id, invitation.token_nonce)
    )


def _issue_token(invitation: Invitation) -> None:
    invitation.token_nonce = new_nonce()
    invitation.token_digest = token_digest(invitation_token(invitation.id, invitation.token_nonce))


def invitation_create(*, actor: Actor, workspace_id: str, email: str, role: str) -> Invitation:
    invitee = clean_email(email)
    new_role = _clean_role(role)
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id, for_update=True)
        require(access, Permission.COLLABORATOR_MANAGE)
        workspace = access.workspace
        if Membership.objects.filter(workspace=workspace, user__email=invitee).exists():
            raise Conflict(
                f"{invitee} is already a collaborator of this workspace.",
                code="already_collaborator",
                errors=[{"field": "email", "message": "Already a collaborator."}],
            )
        _expire_stale(workspace, invitee)
        if Invitation.objects.filter(
            workspace=workspace, email=invitee, status=InvitationStatus.PENDING
        ).exists():
            raise _already_invited(invitee)
        now = clock.now()
        invitation = Invitation(
            workspace=workspace, email=invitee, role=new_role, invited_by=actor.user,
            invited_by_email=actor.email, created_at=now, expires_at=now + INVITATION_LIFETIME,
            sent_count_window_start=now, sent_count=1,
        )  # fmt: skip
        _issue_token(invitation)
        try:
            with transaction.atomic():
                invitation.save(force_insert=True)
        except IntegrityError:
            raise _already_invited(invitee) from None
        audit_record(
            workspace=workspace, actor=actor, action=Action.ADDED,
            target_type=TargetType.COLLABORATOR, target_id=invitation.id,
            target_label=invitee, event="collaborator.invited", details={"role": new_role.value},
        )  # fmt: skip
        _queue_email(invitation)
    return invitation


def _already_invited(email: str) -> Conflict:
    return Conflict(
        f"{email} already has a pending invitation; resend it instead.",
        code="already_invited",
        errors=[{"field": "email", "message": "Already invited."}],
    )


def _pending_invitation(access: Access, invitation_id: str) -> Invitation:
    require(access, Permission.COLLABORATOR_MANAGE)
    invitation = (
        Invitation.objects.select_for_update(no_key=True)
        .filter(workspace=access.workspace, id=invitation_id, status=InvitationStatus.PENDING)
        .first()
    )
    if invitation is None:
        raise NotFound("No such pending invitation.", code="invitation_not_found")
    return invitation


def invitation_resend(*, actor: Actor, workspace_id: str, invitation_id: str) -> Invitation:
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id, for_update=True)
        invitation = _pending_invitation(access, invitation_id)
        now = clock.now()
        if now - invitation.sent_count_window_start >= RESEND_WINDOW:
            invitation.sent_count_window_start, invitation.sent_count = now, 0
        if invitation.sent_count >= RESENDS_PER_WINDOW:
            wait = invitation.sent_count_window_start + RESEND_WINDOW - now
            raise Throttled(
                f"This invitation was sent {invitation.sent_count} times in the last hour. "
                "Try again later.",
                retry_after=int(wait.total_seconds()) + 1,
                code="resend_throttled",
            )
        invitation.sent_count += 1
        invitation.expires_at = now + INVITATION_LIFETIME
        _issue_token(invitation)
        invitation.save()
        audit_record(
            workspace=access.workspace, actor=actor, action=Action.UPDATED,
            target_type=TargetType.COLLABORATOR, target_id=invitation.id,
            target_label=invitation.email, event="collaborator.invitation_resent",
            details={"role": invitation.role},
        )  # fmt: skip
        _queue_email(invitation)
    return invitation


def invitation_revoke(*, actor: Actor, workspace_id: str, invitation_id: str) -> None:
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id, for_update=True)
        invitation = _pending_invitation(access, invitation_id)
        invitation.status = InvitationStatus.REVOKED
        invitation.save(update_fields=["status"])
        audit_record(
            workspace=access.workspace, actor=actor, action=Action.REMOVED,
            target_type=TargetType.COLLABORATOR, target_id=invitation.id,
            target_label=invitation.email, event="collaborator.invitation_revoked",
            details={"role": invitation.role},
        )  # fmt: skip


def invitation_by_token(token: str) -> Invitation:
    """The pending invitation a link points at, checked for use and expiry (not email)."""
    if not isinstance(token, str) or not 10 <= len(token) <= 200:
        raise _invitation_not_found()
    invitation = (
        Invitation.objects.select_related("workspace")
        .filter(token_digest=token_digest(token))
        .first()
    )
    if invitation is None or invitation.status in {
        InvitationStatus.ACCEPTED,
        InvitationStatus.REVOKED,
    }:
        raise _invitation_not_found()
    if invitation.status == InvitationStatus.EXPIRED or invitation.expires_at <= clock.now():
        raise Gone(
            "This invitation has expired. Ask an administrator of the workspace to resend it.",
            code="invitation_expired",
        )
    return invitation


def _invitation_not_found() -> NotFound:
    return NotFound(
        "This invitation link is not valid: it was already used, revoked or replaced.",
        code="invitation_not_found",
    )


def invitation_accept(*, actor: Actor, token: str) -> Membership:
    with transaction.atomic():
        invitation = invitation_by_token(token)
        invitation = Invitation.objects.select_for_update(no_key=True).get(pk=invitation.pk)
        if invitation.status != InvitationStatus.PENDING:
            raise _invitation_not_found()
        if normalize_email(actor.user.email) != invitation.email:
            raise PermissionDenied(
                f"This invitation is for {invitation.email}. Sign in with that address to "
                "accept it.",
                code="invitation_email_mismatch",
            )
        workspace = Workspace.objects.select_for_update(no_key=True).get(pk=invitation.workspace_id)
        if Membership.objects.filter(workspace=workspace, user=actor.user).exists():
            raise Conflict("You are already a collaborator.", code="already_collaborator")
        membership = Membership.objects.create(
            workspace=workspace, user=actor.user, role=invitation.role, joined_at=clock.now()
        )
        invitation.status = InvitationStatus.ACCEPTED
        invitation.save(update_fields=["status"])
        audit_record(
            workspace=workspace, actor=actor, action=Action.ADDED,
            target_type=TargetType.COLLABORATOR, target_id=actor.user.pk,
            target_label=actor.user.email, event="collaborator.joined",
            details={"role": invitation.role, "invitation_id": invitation.id},
        )  # fmt: skip
    return membership
