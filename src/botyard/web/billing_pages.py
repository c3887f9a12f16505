"""Dashboard pages for billing: overview, plan, payment method, budget, invoices."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from botyard.billing import selectors, services
from botyard.billing.plans import CATALOGUE, PlanId
from botyard.core.errors import ApplicationError
from botyard.core.money import format_cents
from botyard.core.pagination import paginate
from botyard.web.forms import BudgetForm, PaymentMethodForm, apply_error
from botyard.web.workspace_views import act, actor_for, workspace_context, workspace_tab
from botyard.workspaces.access import Access


def _billing_context(request: HttpRequest, access: Access, **extra: Any) -> dict[str, Any]:
    context = workspace_context(request, access, tab="billing")
    overview = selectors.billing_overview(access=access)
    used, limit = overview["messages"]["used"], overview["messages"]["limit"]
    page = paginate(
        selectors.invoice_list(access=access),
        order=("-period_start", "-id"),
        cursor=request.GET.get("cursor"),
        limit=24,
        datetime_fields=frozenset({"period_start"}),
    )
    budget = overview["budget"]
    context.update(
        overview=overview,
        usage_percent=min(100, round(100 * used / limit)) if limit else 100,
        invoices=page.items,
        next_cursor=page.next_cursor,
        business=CATALOGUE[PlanId.BUSINESS],
        community=CATALOGUE[PlanId.COMMUNITY],
        budget_percent=(
            min(100, round(100 * overview["current_bill"]["amount"] / budget["amount"]))
            if budget and budget["amount"]
            else None
        ),
    )
    context.setdefault("card_form", PaymentMethodForm())
    context.setdefault(
        "budget_form",
        BudgetForm(initial={"amount": f"{budget['amount'] / 100:.2f}" if budget else None}),
    )
    context.update(extra)
    return context


@workspace_tab("billing")
def billing(request: HttpRequest, access: Access) -> HttpResponse:
    return render(request, "web/billing.html", _billing_context(request, access))


@workspace_tab("billing")
@require_POST
def billing_plan(request: HttpRequest, access: Access) -> HttpResponse:
    target = request.POST.get("plan", "")
    return act(
        request,
        lambda: services.plan_change(
            actor=actor_for(request), workspace_id=access.workspace.id, plan_id=target
        ),
        lambda workspace: (
            "The move to Community takes effect at the end of the period."
            if workspace.pending_plan
            else f"The workspace is on {workspace.get_plan_display()}."
        ),
        then=redirect("web:billing", workspace_id=access.workspace.id),
    )


@workspace_tab("billing")
@require_POST
def billing_card(request: HttpRequest, access: Access) -> HttpResponse:
    form = PaymentMethodForm(request.POST)
    if form.is_valid():
        try:
            card = services.payment_method_set(
                actor=actor_for(request),
                workspace_id=access.workspace.id,
                token=form.cleaned_data["token"],
            )
        except ApplicationError as error:
            form.add_error("token", error.detail)
        else:
            messages.success(request, f"Payment method set: {card.brand} •••• {card.last4}.")
            return redirect("web:billing", workspace_id=access.workspace.id)
    context = _billing_context(request, access, card_form=form)
    return render(request, "web/billing.html", context, status=400)


@workspace_tab("billing")
@require_POST
def billing_card_remove(request: HttpRequest, access: Access) -> HttpResponse:
    return act(
        request,
        lambda: services.payment_method_remove(
            actor=actor_for(request), workspace_id=access.workspace.id
        ),
        "Payment method removed.",
        then=redirect("web:billing", workspace_id=access.workspace.id),
    )


@workspace_tab("billing")
@require_POST
def billing_budget(request: HttpRequest, access: Access) -> HttpResponse:
    form = BudgetForm(request.POST)
    if form.is_valid():
        try:
            workspace = services.budget_set(
                actor=actor_for(request),
                workspace_id=access.workspace.id,
                amount_cents=form.cents(),
            )
        except ApplicationError as error:
            apply_error(form, error)
        else:
            budget = workspace.budget_cents
            messages.success(
                request,
                f"Monthly budget set to {format_cents(budget)}."
                if budget is not None
                else "Budget removed.",
            )
            return redirect("web:billing", workspace_id=access.workspace.id)
    context = _billing_context(request, access, budget_form=form)
    return render(request, "web/billing.html", context, status=400)


@workspace_tab("billing")
def invoice_pdf(request: HttpRequest, access: Access, invoice_id: str) -> HttpResponse:
    invoice, document = services.invoice_download(
        actor=actor_for(request), workspace_id=access.workspace.id, invoice_id=invoice_id
    )
    response = HttpResponse(document, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="invoice-{invoice.number}.pdf"'
    return response
