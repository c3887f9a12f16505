"""Billing writes (product.md §6): plan, payment method, budget, invoice downloads."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from botyard.audit.models import Action, TargetType
from botyard.audit.services import audit_record
from botyard.billing.gateway import get_gateway
from botyard.billing.models import Invoice, InvoiceStatus, PaymentMethod
from botyard.billing.pdf import invoice_pdf
from botyard.billing.plans import CATALOGUE, PlanId, plan
from botyard.billing.usage import price_cents
from botyard.bots.models import Bot
from botyard.core import clock
from botyard.core.actor import Actor
from botyard.core.errors import Conflict, NotFound, ValidationFailed
from botyard.workspaces.access import Access, access_workspace, require
from botyard.workspaces.models import Workspace
from botyard.workspaces.roles import Permission


def _audit(
    actor: Actor, access: Access, action: Action, event: str, details: dict[str, Any]
) -> None:
    audit_record(
        workspace=access.workspace,
        actor=actor,
        action=action,
        target_type=TargetType.CONFIGURATION,
        target_id=access.workspace.id,
        target_label=access.workspace.name,
        event=event,
        details=details,
    )


def _billing_access(actor: Actor, workspace_id: str) -> Access:
    access = access_workspace(actor.user, workspace_id, for_update=True)
    require(access, Permission.BILLING_CHANGE)
    return access


def downgrade_obstacles(workspace: Workspace, target: PlanId) -> list[str]:
    """Why `workspace` cannot move to `target` now (empty when it can)."""
    limits = plan(target)
    reasons = []
    bots = Bot.objects.filter(workspace=workspace).count()
    if bots > limits.bot_limit:
        reasons.append(
            f"The workspace has {bots} bots; {limits.name} allows {limits.bot_limit}. "
            f"Delete {bots - limits.bot_limit} first."
        )
    if limits.max_owned_per_user is not None:
        owned = (
            Workspace.objects.filter(owner_id=workspace.owner_id, plan=target)
            .exclude(pk=workspace.pk)
            .count()
        )
        if owned >= limits.max_owned_per_user:
            reasons.append(
                f"The owner already owns {owned} {limits.name} workspace"
                f"{'s' if owned != 1 else ''}, the most {limits.name} allows."
            )
    return reasons


def plan_change(*, actor: Actor, workspace_id: str, plan_id: str) -> Workspace:
    try:
        target = PlanId(plan_id)
    except ValueError:
        target = None
    if target is None or not CATALOGUE[target].self_serve:
        raise ValidationFailed.field(
            "plan",
            "Choose community or business; Enterprise is arranged with platform staff.",
            code="invalid_plan",
        )
    with transaction.atomic():
        access = _billing_access(actor, workspace_id)
        workspace = access.workspace
        current = PlanId(workspace.plan)
        if current is PlanId.ENTERPRISE:
            raise Conflict(
                "This workspace is on Enterprise terms; platform staff change its plan.",
                code="plan_managed_by_staff",
            )
        if target is current:
            if workspace.pending_plan:  # choosing the current plan cancels a downgrade
                before = workspace.pending_plan
                workspace.pending_plan = ""
                workspace.save(update_fields=["pending_plan"])
                _audit(
                    actor,
                    access,
                    Action.UPDATED,
                    "billing.downgrade_cancelled",
                    {"plan": current.value, "cancelled": before},
                )
            return workspace
        if plan(target).price_cents > plan(current).price_cents:
            if not PaymentMethod.objects.filter(workspace=workspace).exists():
                raise Conflict(
                    f"Add a payment method before upgrading to {plan(target).name}.",
                    code="payment_method_required",
                )
            workspace.plan, workspace.plan_started_at = target, clock.now()
            workspace.pending_plan = ""
            workspace.save(update_fields=["plan", "plan_started_at", "pending_plan"])
            _audit(
                actor,
                access,
                Action.UPDATED,
                "billing.plan_changed",
                {"before": current.value, "after": target.value, "effective": "now"},
            )
            return workspace
        reasons = downgrade_obstacles(workspace, target)
        if reasons:
            raise Conflict(
                f"The workspace cannot move to {plan(target).name}: " + " ".join(reasons),
                code="downgrade_blocked",
                extra={"reasons": reasons},
            )
        workspace.pending_plan = target
        workspace.save(update_fields=["pending_plan"])
        _audit(
            actor,
            access,
            Action.UPDATED,
            "billing.downgrade_scheduled",
            {"before": current.value, "after": target.value, "effective": "period_end"},
        )
    return workspace


def payment_method_set(*, actor: Actor, workspace_id: str, token: str) -> PaymentMethod:
    if not isinstance(token, str) or not token.strip():
        raise ValidationFailed.field(
            "token", "Send a payment method token.", code="invalid_payment_method"
        )
    # Who may change billing is settled before the gateway sees the card: otherwise anyone
    # signed in could use any workspace id to test cards against the gateway.
    require(access_workspace(actor.user, workspace_id), Permission.BILLING_CHANGE)
    try:
        card = get_gateway().attach(token.strip())
    except ValidationFailed as error:  # name the field of this request's body
        error.errors = [{"field": "token", "message": error.detail}]
        raise
    with transaction.atomic():
        access = _billing_access(actor, workspace_id)
        existing = PaymentMethod.objects.filter(workspace=access.workspace).first()
        before = f"{existing.brand} {existing.last4}" if existing else None
        method, _ = PaymentMethod.objects.update_or_create(
            workspace=access.workspace,
            defaults={
                "gateway_token": card.token,
                "brand": card.brand,
                "last4": card.last4,
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
                "added_at": clock.now(),
            },
        )
        # The open invoices (also those whose retries ran out: past due) are charged to the
        # new card at the next billing run, as the Billing page promises.
        Invoice.objects.filter(workspace=access.workspace, status=InvoiceStatus.OPEN).update(
            next_attempt_at=clock.now()
        )
        _audit(
            actor,
            access,
            Action.UPDATED,
            "billing.payment_method_replaced" if existing else "billing.payment_method_added",
            {"before": before, "after": f"{card.brand} {card.last4}"},
        )
    return method


def payment_method_remove(*, actor: Actor, workspace_id: str) -> None:
    with transaction.atomic():
        access = _billing_access(actor, workspace_id)
        workspace = access.workspace
        existing = PaymentMethod.objects.filter(workspace=workspace).first()
        if existing is None:
            raise NotFound("This workspace has no payment method.", code="no_payment_method")
        if price_cents(workspace) > 0 or workspace.pending_plan:
            raise Conflict(
                "A paid plan needs a payment method; replace it instead, or move to Community "
                "first.",
                code="payment_method_required",
            )
        existing.delete()
        _audit(
            actor,
            access,
            Action.REMOVED,
            "billing.payment_method_removed",
            {"before": f"{existing.brand} {existing.last4}"},
        )


# What Workspace.budget_cents holds everywhere (a PostgreSQL integer): $21,474,836.47.
MAX_BUDGET_CENTS = 2_147_483_647


def budget_set(*, actor: Actor, workspace_id: str, amount_cents: int | None) -> Workspace:
    if amount_cents is not None and (not isinstance(amount_cents, int) or amount_cents < 0):
        raise ValidationFailed.field("amount", "Send a whole number of cents, or null.")
    if amount_cents is not None and amount_cents > MAX_BUDGET_CENTS:
        raise ValidationFailed.field(
            "amount", f"The budget can be at most {MAX_BUDGET_CENTS} cents."
        )
    with transaction.atomic():
        access = _billing_access(actor, workspace_id)
        workspace = access.workspace
        if amount_cents is not None:
            if plan(workspace.plan).overage_cents_per_message is None:
                raise Conflict(
                    "A budget caps the bill of a paid plan; this plan has no charges to cap.",
                    code="budget_needs_paid_plan",
                )
            minimum = price_cents(workspace)
            if amount_cents < minimum:
                raise ValidationFailed.field(
                    "amount",
                    f"The budget must be at least the plan price, {minimum} cents.",
                    code="budget_below_plan_price",
                )
        before = workspace.budget_cents
        if before == amount_cents:
            return workspace
        workspace.budget_cents = amount_cents
        workspace.save(update_fields=["budget_cents"])
        _audit(
            actor,
            access,
            Action.UPDATED,
            "billing.budget_changed",
            {"before": before, "after": amount_cents},
        )
    return workspace


def invoice_download(*, actor: Actor, workspace_id: str, invoice_id: str) -> tuple[Invoice, bytes]:
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id)
        require(access, Permission.BILLING_CHANGE)
        invoice = (
            Invoice.objects.filter(workspace=access.workspace, id=invoice_id)
            .prefetch_related("lines")
            .first()
        )
        if invoice is None:
            raise NotFound("No such invoice.", code="invoice_not_found")
        document = invoice_pdf(invoice, workspace=access.workspace)
        audit_record(
            workspace=access.workspace,
            actor=actor,
            action=Action.DOWNLOADED,
            target_type=TargetType.CONFIGURATION,
            target_id=invoice.id,
            target_label=invoice.number,
            event="billing.invoice_downloaded",
            details={"number": invoice.number, "format": "pdf"},
        )
    return invoice, document
