from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router

from botyard.accounts.api import actor_of, current_user
from botyard.accounts.auth import user_auth
from botyard.billing import selectors, services
from botyard.billing.models import Invoice
from botyard.billing.schemas import (
    BillingOut,
    BudgetIn,
    InvoiceDetailOut,
    InvoiceListOut,
    PaymentMethodIn,
    PlanIn,
)
from botyard.core.pagination import paginate
from botyard.workspaces.access import access_workspace

router = Router(tags=["billing"], auth=user_auth)
WS = "/workspaces/{workspace_id}"


def _overview(request: HttpRequest, workspace_id: str) -> dict[str, Any]:
    access = access_workspace(current_user(request), workspace_id)
    return selectors.billing_overview(access=access)


def invoice_out(invoice: Invoice, *, with_lines: bool = False) -> dict[str, Any]:
    money = selectors.money
    out: dict[str, Any] = {
        "id": invoice.id,
        "number": invoice.number,
        "period": {"start": invoice.period_start, "end": invoice.period_end},
        "total": money(invoice.total_cents, invoice.currency),
        "status": invoice.status,
        "attempts": invoice.attempts,
        "next_attempt_at": invoice.next_attempt_at,
        "issued_at": invoice.issued_at,
    }
    if with_lines:
        out["lines"] = [
            {
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": {
                    **money(line.unit_price_cents, invoice.currency),
                    "per": line.unit_size,
                },
                "amount": money(line.amount_cents, invoice.currency),
            }
            for line in sorted(invoice.lines.all(), key=lambda line: line.position)
        ]
    return out


@router.get(WS + "/billing", response=BillingOut)
def billing_get(request: HttpRequest, workspace_id: str) -> dict[str, Any]:
    return _overview(request, workspace_id)


@router.put(WS + "/billing/plan", response=BillingOut)
def billing_plan(request: HttpRequest, workspace_id: str, payload: PlanIn) -> dict[str, Any]:
    services.plan_change(actor=actor_of(request), workspace_id=workspace_id, plan_id=payload.plan)
    return _overview(request, workspace_id)


@router.put(WS + "/billing/payment-method", response=BillingOut)
def billing_payment_method_set(
    request: HttpRequest, workspace_id: str, payload: PaymentMethodIn
) -> dict[str, Any]:
    services.payment_method_set(
        actor=actor_of(request), workspace_id=workspace_id, token=payload.token
    )
    return _overview(request, workspace_id)


@router.delete(WS + "/billing/payment-method", response={204: None})
def billing_payment_method_remove(request: HttpRequest, workspace_id: str) -> HttpResponse:
    services.payment_method_remove(actor=actor_of(request), workspace_id=workspace_id)
    return HttpResponse(status=204)


@router.put(WS + "/billing/budget", response=BillingOut)
def billing_budget(request: HttpRequest, workspace_id: str, payload: BudgetIn) -> dict[str, Any]:
    services.budget_set(
        actor=actor_of(request), workspace_id=workspace_id, amount_cents=payload.amount
    )
    return _overview(request, workspace_id)


@router.get(WS + "/invoices", response=InvoiceListOut)
def invoice_list(
    request: HttpRequest, workspace_id: str, cursor: str | None = None, limit: int | None = None
) -> dict[str, Any]:
    access = access_workspace(current_user(request), workspace_id)
    page = paginate(
        selectors.invoice_list(access=access),
        order=("-period_start", "-id"),
        cursor=cursor,
        limit=limit,
        datetime_fields=frozenset({"period_start"}),
    )
    return {"items": [invoice_out(i) for i in page.items], "next_cursor": page.next_cursor}


@router.get(WS + "/invoices/{invoice_id}", response=InvoiceDetailOut)
def invoice_get(request: HttpRequest, workspace_id: str, invoice_id: str) -> dict[str, Any]:
    access = access_workspace(current_user(request), workspace_id)
    return invoice_out(selectors.invoice_get(access=access, invoice_id=invoice_id), with_lines=True)


@router.get(WS + "/invoices/{invoice_id}/pdf", response={200: bytes})
def invoice_pdf(request: HttpRequest, workspace_id: str, invoice_id: str) -> HttpResponse:
    invoice, document = services.invoice_download(
        actor=actor_of(request), workspace_id=workspace_id, invoice_id=invoice_id
    )
    response = HttpResponse(document, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="invoice-{invoice.number}.pdf"'
    return response
