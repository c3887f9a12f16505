"""Billing reads: the overview of api.md and the invoice lists."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from botyard.billing.models import Invoice, PaymentMethod
from botyard.billing.money import bill_cents
from botyard.billing.periods import Period, period_containing
from botyard.billing.plans import plan
from botyard.billing.usage import included_messages, price_cents
from botyard.core import clock
from botyard.core.errors import NotFound
from botyard.messaging.models import UsageCounter
from botyard.workspaces.access import Access, require
from botyard.workspaces.models import Workspace
from botyard.workspaces.roles import Permission

WARNING_SHARE = 0.75


def current_period(workspace: Workspace) -> Period:
    return period_containing(workspace.plan_started_at, clock.now())


def messages_used(workspace: Workspace, period: Period) -> int:
    used = (
        UsageCounter.objects.filter(workspace=workspace, period_start=period.start)
        .values_list("messages", flat=True)
        .first()
    )
    return used or 0


def usage_status(used: int, limit: int) -> str:
    if limit <= 0 or used >= limit:
        return "limit_reached"
    if used >= WARNING_SHARE * limit:
        return "warning"
    return "ok"


def money(cents: int, currency: str = "usd") -> dict[str, Any]:
    return {"amount": cents, "currency": currency}


def billing_overview(*, access: Access) -> dict[str, Any]:
    require(access, Permission.BILLING_VIEW)
    workspace = access.workspace
    chosen = plan(workspace.plan)
    period = current_period(workspace)
    used = messages_used(workspace, period)
    limit = included_messages(workspace)
    card = PaymentMethod.objects.filter(workspace=workspace).first()
    return {
        "plan": {
            "id": chosen.id.value,
            "name": chosen.name,
            "price": money(price_cents(workspace)),
        },
        "period": {"start": period.start, "end": period.end},
        "next_payment_date": period.end.date(),
        "current_bill": money(bill_cents(workspace, used)),
        "messages": {"used": used, "limit": limit, "status": usage_status(used, limit)},
        "budget": money(workspace.budget_cents) if workspace.budget_cents is not None else None,
        "payment_method": (
            {
                "brand": card.brand,
                "last4": card.last4,
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
            }
            if card
            else None
        ),
        "pending_plan": workspace.pending_plan or None,
        "past_due": workspace.past_due,
    }


def invoice_list(*, access: Access) -> QuerySet[Invoice]:
    require(access, Permission.BILLING_VIEW)
    return Invoice.objects.filter(workspace=access.workspace)


def invoice_get(*, access: Access, invoice_id: str) -> Invoice:
    require(access, Permission.BILLING_VIEW)
    invoice = (
        Invoice.objects.filter(workspace=access.workspace, id=invoice_id)
        .prefetch_related("lines")
        .first()
    )
    if invoice is None:
        raise NotFound("No such invoice.", code="invoice_not_found")
    return invoice
