"""Closing billing periods: issue one invoice per ended paid period, charge it, retry
failed charges (three attempts, then one more each time the card is replaced), and apply
downgrades that were waiting for the period end. Safe to run twice, or on two workers at
once: the workspace row is locked, an invoice is unique per (workspace, period), and every
charge carries an idempotency key derived from the workspace, the period and the attempt."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.db import DatabaseError, transaction

from botyard.audit.models import Action, TargetType
from botyard.audit.services import audit_record
from botyard.billing.gateway import get_gateway
from botyard.billing.models import ChargeAttempt, Invoice, InvoiceLine, InvoiceStatus, PaymentMethod
from botyard.billing.money import (
    OVERAGE_UNIT,
    overage_cents,
    overage_messages,
    overage_unit_price_cents,
)
from botyard.billing.periods import Period, add_months
from botyard.billing.plans import PlanId, plan
from botyard.billing.services import downgrade_obstacles
from botyard.billing.usage import included_messages, price_cents
from botyard.messaging.models import UsageCounter
from botyard.workspaces.models import Workspace

logger = logging.getLogger("botyard.billing")
MAX_ATTEMPTS = 3
RETRY_AFTER = {1: dt.timedelta(days=3), 2: dt.timedelta(days=5)}


@dataclass
class ClosingReport:
    issued: list[str] = field(default_factory=list)
    charged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    downgraded: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"issued {len(self.issued)} invoice(s), {len(self.charged)} paid, "
            f"{len(self.failed)} charge(s) failed, {len(self.downgraded)} downgrade(s) applied"
            + (f", {len(self.errors)} workspace(s) failed" if self.errors else "")
        )


def _ended_periods(workspace: Workspace, now: dt.datetime) -> list[Period]:
    anchor = workspace.plan_started_at
    last = (
        Invoice.objects.filter(workspace=workspace, period_start__gte=anchor)
        .order_by("-period_start")
        .values_list("period_start", flat=True)
        .first()
    )
    months = 0
    if last is not None:
        while add_months(anchor, months) <= last:
            months += 1
    periods = []
    while add_months(anchor, months + 1) <= now:
        periods.append(Period(add_months(anchor, months), add_months(anchor, months + 1)))
        months += 1
    return periods


def _issue(workspace: Workspace, period: Period, now: dt.datetime) -> Invoice:
    used = (
        UsageCounter.objects.filter(workspace=workspace, period_start=period.start)
        .values_list("messages", flat=True)
        .first()
    ) or 0
    fee = price_cents(workspace)
    extra = overage_messages(workspace, used)
    extra_cents = overage_cents(workspace, used)
    sequence = Invoice.objects.filter(workspace=workspace).count() + 1
    invoice = Invoice.objects.create(
        workspace=workspace,
        number=f"{workspace.id.removeprefix('ws_')[-8:].upper()}-{sequence:04d}",
        plan=workspace.plan,
        period_start=period.start,
        period_end=period.end,
        total_cents=fee + extra_cents,
        status=InvoiceStatus.OPEN,
        issued_at=now,
        next_attempt_at=now,
    )
    chosen = plan(workspace.plan)
    lines = [
        InvoiceLine(
            invoice=invoice,
            position=1,
            description=f"{chosen.name} plan, {period.start:%Y-%m-%d} to {period.end:%Y-%m-%d}",
            quantity=1,
            unit_price_cents=fee,
            unit_size=1,
            amount_cents=fee,
        )
    ]
    if extra:
        lines.append(
            InvoiceLine(
                invoice=invoice,
                position=2,
                description=(
                    f"Messages beyond the {included_messages(workspace):,} included "
                    f"(per {OVERAGE_UNIT:,})"
                ),
                quantity=extra,
                unit_price_cents=overage_unit_price_cents(workspace),
                unit_size=OVERAGE_UNIT,
                amount_cents=extra_cents,
            )
        )
    InvoiceLine.objects.bulk_create(lines)
    audit_record(
        workspace=workspace,
        actor=None,
        actor_email="system",
        action=Action.ADDED,
        target_type=TargetType.CONFIGURATION,
        target_id=invoice.id,
        target_label=invoice.number,
        event="billing.invoice_issued",
        details={"total": invoice.total_cents, "period_start": period.start.isoformat()},
    )
    return invoice


def _charge(
    invoice: Invoice, workspace: Workspace, now: dt.datetime, report: ClosingReport
) -> None:
    number = invoice.attempts + 1
    # Made of what a rolled-back run leaves unchanged (the invoice's id is new each time it
    # is issued), so that a charge repeated after a crash is the same charge to the gateway.
    key = f"botyard-{workspace.id}-{invoice.period_start:%Y%m%dT%H%M%S}-attempt-{number}"
    if invoice.total_cents == 0:
        succeeded, charge_id, decline = True, "", ""
    else:
        card = PaymentMethod.objects.filter(workspace=workspace).first()
        if card is None:
            succeeded, charge_id, decline = False, "", "no_payment_method"
        else:
            result = get_gateway().charge(
                token=card.gateway_token,
                amount_cents=invoice.total_cents,
                currency=invoice.currency,
                idempotency_key=key,
            )
            succeeded, charge_id = result.succeeded, result.charge_id
            decline = result.decline_code or ""
    ChargeAttempt.objects.create(
        invoice=invoice,
        number=number,
        idempotency_key=key,
        charge_id=charge_id,
        succeeded=succeeded,
        decline_code=decline,
        attempted_at=now,
    )
    invoice.attempts = number
    if succeeded:
        invoice.status, invoice.paid_at, invoice.next_attempt_at = InvoiceStatus.PAID, now, None
        report.charged.append(invoice.id)
        if (
            workspace.past_due
            and not workspace.invoices.filter(status=InvoiceStatus.OPEN)
            .exclude(pk=invoice.pk)
            .exists()
        ):
            workspace.past_due = False
            workspace.save(update_fields=["past_due"])
    else:
        report.failed.append(invoice.id)
        if number >= MAX_ATTEMPTS:
            invoice.next_attempt_at = None
            workspace.past_due = True
            workspace.save(update_fields=["past_due"])
        else:
            invoice.next_attempt_at = now + RETRY_AFTER[number]
    invoice.save(update_fields=["attempts", "status", "paid_at", "next_attempt_at"])


def _apply_pending_downgrade(
    workspace: Workspace, period_end: dt.datetime, report: ClosingReport
) -> None:
    target = PlanId(workspace.pending_plan)
    reasons = downgrade_obstacles(workspace, target)
    before = workspace.plan
    if reasons:  # something changed since it was scheduled; stay, and say why
        workspace.pending_plan = ""
        workspace.save(update_fields=["pending_plan"])
        event = "billing.downgrade_cancelled"
        details: dict[str, object] = {"reasons": reasons}
    else:
        workspace.plan, workspace.plan_started_at = target, period_end
        workspace.pending_plan, workspace.budget_cents = "", None
        workspace.save(update_fields=["plan", "plan_started_at", "pending_plan", "budget_cents"])
        report.downgraded.append(workspace.id)
        event, details = "billing.plan_changed", {"before": before, "after": target.value}
    audit_record(
        workspace=workspace,
        actor=None,
        actor_email="system",
        action=Action.UPDATED,
        target_type=TargetType.CONFIGURATION,
        target_id=workspace.id,
        target_label=workspace.name,
        event=event,
        details=details,
    )


def _close_workspace(workspace_id: str, now: dt.datetime, report: ClosingReport) -> None:
    with transaction.atomic():
        workspace = Workspace.objects.select_for_update(no_key=True).filter(pk=workspace_id).first()
        if workspace is None:
            return
        for period in _ended_periods(workspace, now):
            invoice = _issue(workspace, period, now)
            report.issued.append(invoice.id)
            _charge(invoice, workspace, now, report)
            if workspace.pending_plan:
                billed_plan = workspace.plan
                _apply_pending_downgrade(workspace, period.end, report)
                if workspace.plan != billed_plan:
                    break  # the next periods belong to the new plan; a cancelled move bills on
        # After the third failure next_attempt_at is null: no more retries until a new card
        # is set, which makes the open invoices due again (billing.services).
        due = Invoice.objects.select_for_update(no_key=True).filter(
            workspace=workspace, status=InvoiceStatus.OPEN, next_attempt_at__lte=now
        )
        for invoice in due:
            _charge(invoice, workspace, now, report)


def billing_close_periods(*, now: dt.datetime) -> ClosingReport:
    report = ClosingReport()
    paid = Workspace.objects.exclude(plan=PlanId.COMMUNITY).values_list("id", flat=True)
    retrying = Invoice.objects.filter(
        status=InvoiceStatus.OPEN, next_attempt_at__lte=now
    ).values_list("workspace_id", flat=True)
    for workspace_id in sorted(set(paid) | set(retrying)):
        try:
            _close_workspace(workspace_id, now, report)
        except DatabaseError:
            # One workspace's failure must not hold up the others; its transaction rolled
            # back, and the next run tries it again.
            logger.exception("closing periods failed for %s", workspace_id)
            report.errors.append(workspace_id)
    return report
