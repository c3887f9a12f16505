"""The Billing section of api.md and the rules of product.md §6 through the HTTP API: the
overview, plan changes, payment methods, the budget, invoices, and the Enterprise terms
staff set in the admin. Each refusal is checked for its status and code and for having
changed nothing; each change for the audit event it wrote.

Who may call which route (every role, outsiders, anonymous callers) is the permission
matrix of tests/workspaces/test_permissions.py; here the caller is the owner unless a
test says otherwise.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from botyard.audit.models import AuditEvent
from botyard.billing.closing import billing_close_periods
from botyard.billing.models import Invoice, PaymentMethod
from botyard.bots import services as bot_services
from botyard.core import clock
from botyard.workspaces import services as workspace_services
from botyard.workspaces.admin import WorkspaceAdmin
from botyard.workspaces.models import Workspace, WorkspaceTombstone
from botyard.workspaces.roles import Role
from tests import factories
from tests.billing.world import (
    PERIOD_END,
    PERIOD_END_TEXT,
    T0,
    T0_TEXT,
    UTC,
    Shop,
    body,
)
from tests.helpers import ApiClient, assert_problem
from tests.workspaces.world import assert_unchanged, db_snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("t0")]

USD = "usd"
VISA = {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2029}


def money(cents: int) -> dict[str, Any]:
    return {"amount": cents, "currency": USD}


def overview(client: ApiClient, shop: Shop) -> dict[str, Any]:
    response = client.get(shop.billing_url(), token=shop.owner.token)
    assert response.status_code == 200, response.content
    result: dict[str, Any] = body(response)
    return result


def community_with_card(client: ApiClient) -> Shop:
    shop = Shop(Role.OWNER)
    response = client.put(
        shop.billing_url("/payment-method"), {"token": "pm_card_visa"}, token=shop.owner.token
    )
    assert response.status_code == 200, response.content
    return shop


def add_bots(shop: Shop, count: int) -> None:
    for n in range(count):
        bot_services.bot_create(actor=shop.owner.actor, workspace_id=shop.id, name=f"Bot {n}")


# --- GET billing --------------------------------------------------------------------------


def test_a_new_community_workspace_is_free_and_has_no_card(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER)

    assert overview(api_client, shop) == {
        "plan": {"id": "community", "name": "Community", "price": money(0)},
        "period": {"start": T0_TEXT, "end": PERIOD_END_TEXT},
        "next_payment_date": "2026-04-01",
        "current_bill": money(0),
        "messages": {"used": 0, "limit": 2000, "status": "ok"},
        "budget": None,
        "payment_method": None,
        "pending_plan": None,
        "past_due": False,
    }


def test_the_business_bill_is_the_price_plus_the_overage_so_far(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER, plan="business")
    shop.set_used(25_437)  # 437 beyond the 25,000 included: 437 x 0.5 ¢ = 218.5 ¢ → 219 ¢

    assert overview(api_client, shop) == {
        "plan": {"id": "business", "name": "Business", "price": money(8900)},
        "period": {"start": T0_TEXT, "end": PERIOD_END_TEXT},
        "next_payment_date": "2026-04-01",
        "current_bill": money(8900 + 219),
        "messages": {"used": 25_437, "limit": 25_000, "status": "limit_reached"},
        "budget": None,
        "payment_method": VISA,
        "pending_plan": None,
        "past_due": False,
    }


@pytest.mark.parametrize(
    ("used", "status", "bill"),
    [
        (0, "ok", 8900),
        (18_749, "ok", 8900),  # just below 75 %
        (18_750, "warning", 8900),  # 75 %
        (24_999, "warning", 8900),
        (25_000, "limit_reached", 8900),  # 100 %: the included messages are used up
        (25_001, "limit_reached", 8901),  # 0.5 ¢ rounds half up
        (25_002, "limit_reached", 8901),
        (25_003, "limit_reached", 8902),  # 1.5 ¢ → 2 ¢: rounded once, on the total
        (27_000, "limit_reached", 8900 + 1000),  # 2,000 x $5.00 / 1,000
    ],
)
def test_business_status_and_bill_by_usage(
    api_client: ApiClient, used: int, status: str, bill: int
) -> None:
    shop = Shop(Role.OWNER, plan="business")
    shop.set_used(used)

    result = overview(api_client, shop)

    assert result["messages"] == {"used": used, "limit": 25_000, "status": status}
    assert result["current_bill"] == money(bill)


@pytest.mark.parametrize(
    ("used", "status"),
    [(1_499, "ok"), (1_500, "warning"), (1_999, "warning"), (2_000, "limit_reached")],
)
def test_community_status_by_usage(api_client: ApiClient, used: int, status: str) -> None:
    shop = Shop(Role.OWNER)
    shop.set_used(used)

    result = overview(api_client, shop)

    assert result["messages"] == {"used": used, "limit": 2_000, "status": status}
    assert result["current_bill"] == money(0)


def test_the_overview_counts_the_current_period_only(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER, plan="business")
    shop.set_used(30_000)  # the first period
    clock.advance(dt.timedelta(days=45))  # 2026-04-15: the second period
    shop.set_used(12)

    result = overview(api_client, shop)

    assert result["period"] == {"start": PERIOD_END_TEXT, "end": "2026-05-01T09:30:00Z"}
    assert result["next_payment_date"] == "2026-05-01"
    assert result["messages"] == {"used": 12, "limit": 25_000, "status": "ok"}
    assert result["current_bill"] == money(8900)


def test_a_billing_manager_sees_the_overview(api_client: ApiClient) -> None:
    shop = Shop(Role.BILLING_MANAGER, plan="business")

    response = api_client.get(shop.billing_url(), token=shop.caller.token)

    assert response.status_code == 200
    assert body(response)["plan"]["id"] == "business"


# --- PUT billing/plan ---------------------------------------------------------------------


def test_an_upgrade_needs_a_payment_method(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER)
    before = db_snapshot()

    response = api_client.put(
        shop.billing_url("/plan"), {"plan": "business"}, token=shop.owner.token
    )

    problem = assert_problem(response, 409, "payment_method_required")
    assert "payment method" in problem["detail"]
    assert_unchanged(before)
    assert shop.refresh().plan == "community"


def test_an_upgrade_takes_effect_at_once_and_starts_a_new_period(api_client: ApiClient) -> None:
    shop = community_with_card(api_client)
    shop.set_used(1_200)  # used on Community; the Business period starts from zero
    clock.advance(dt.timedelta(days=10, hours=3, minutes=15))  # 2026-03-11 12:45
    seq = shop.last_seq()

    response = api_client.put(
        shop.billing_url("/plan"), {"plan": "business"}, token=shop.owner.token
    )

    assert response.status_code == 200, response.content
    result = body(response)
    assert result["plan"] == {"id": "business", "name": "Business", "price": money(8900)}
    assert result["period"] == {"start": "2026-03-11T12:45:00Z", "end": "2026-04-11T12:45:00Z"}
    assert result["next_payment_date"] == "2026-04-11"
    assert result["messages"] == {"used": 0, "limit": 25_000, "status": "ok"}
    assert result["current_bill"] == money(8900)
    assert result["pending_plan"] is None
    workspace = shop.refresh()
    assert (workspace.plan, workspace.plan_started_at) == ("business", clock.now())
    [event] = shop.events(after=seq)
    assert (event.action, event.event, event.actor_email) == (
        "updated",
        "billing.plan_changed",
        shop.owner.email,
    )
    assert event.details == {"before": "community", "after": "business", "effective": "now"}
    # Nothing is charged at once: the price is billed at the end of the period.
    assert billing_close_periods(now=clock.now()).issued == []
    assert not Invoice.objects.filter(workspace_id=shop.id).exists()


def test_a_downgrade_waits_for_the_period_end_and_close_periods_applies_it(
    api_client: ApiClient, cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    shop = Shop(Role.OWNER, plan="business")
    api_client.put(shop.billing_url("/budget"), {"amount": 12_000}, token=shop.owner.token)
    shop.set_used(25_437)
    seq = shop.last_seq()

    response = api_client.put(
        shop.billing_url("/plan"), {"plan": "community"}, token=shop.owner.token
    )

    assert response.status_code == 200, response.content
    result = body(response)
    assert result["plan"]["id"] == "business"  # still Business until the period ends
    assert result["pending_plan"] == "community"
    assert result["current_bill"] == money(9119)
    assert shop.refresh().plan == "business"
    [event] = shop.events(after=seq)
    assert (event.action, event.event) == ("updated", "billing.downgrade_scheduled")
    assert event.details == {"before": "business", "after": "community", "effective": "period_end"}

    # A moment before the period end nothing happens; at the end, the last Business invoice
    # is issued and paid, and the workspace moves to Community.
    assert cli("billing", "close-periods", "--now", "2026-04-01T09:29:59Z") == 0
    assert capsys.readouterr().out == (
        "issued 0 invoice(s), 0 paid, 0 charge(s) failed, 0 downgrade(s) applied\n"
    )
    assert cli("billing", "close-periods", "--now", PERIOD_END_TEXT) == 0
    assert capsys.readouterr().out == (
        "issued 1 invoice(s), 1 paid, 0 charge(s) failed, 1 downgrade(s) applied\n"
    )

    [invoice] = Invoice.objects.filter(workspace_id=shop.id)
    assert (invoice.plan, invoice.total_cents, invoice.status) == ("business", 9119, "paid")
    assert (invoice.period_start, invoice.period_end) == (T0, PERIOD_END)
    workspace = shop.refresh()
    assert (workspace.plan, workspace.pending_plan, workspace.budget_cents) == (
        "community",
        "",
        None,
    )
    assert workspace.plan_started_at == PERIOD_END
    clock.advance(dt.timedelta(days=31, hours=1))  # 2026-04-01 10:30: the Community period
    after = overview(api_client, shop)
    assert after["plan"] == {"id": "community", "name": "Community", "price": money(0)}
    assert after["period"] == {"start": PERIOD_END_TEXT, "end": "2026-05-01T09:30:00Z"}
    assert (after["pending_plan"], after["budget"], after["current_bill"]) == (None, None, money(0))
    assert after["payment_method"] == VISA  # kept, and now removable
    moved = AuditEvent.objects.get(workspace_id=shop.id, event="billing.plan_changed")
    assert (moved.actor_email, moved.action) == ("system", "updated")
    assert moved.details == {"before": "business", "after": "community"}

    # Community periods are free: closing later issues nothing more.
    assert cli("billing", "close-periods", "--now", "2026-06-02T00:00:00Z") == 0
    assert capsys.readouterr().out.startswith("issued 0 invoice(s), 0 paid")
    assert Invoice.objects.filter(workspace_id=shop.id).count() == 1


def test_choosing_business_again_cancels_a_pending_downgrade(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER, plan="business")
    api_client.put(shop.billing_url("/plan"), {"plan": "community"}, token=shop.owner.token)
    seq = shop.last_seq()

    response = api_client.put(
        shop.billing_url("/plan"), {"plan": "business"}, token=shop.owner.token
    )

    assert response.status_code == 200
    assert body(response)["pending_plan"] is None
    workspace = shop.refresh()
    assert (workspace.plan, workspace.pending_plan, workspace.plan_started_at) == (
        "business",
        "",
        T0,  # the period goes on: cancelling is not an upgrade
    )
    [event] = shop.events(after=seq)
    assert (event.action, event.event) == ("updated", "billing.downgrade_cancelled")
    assert event.details == {"plan": "business", "cancelled": "community"}


def test_choosing_the_current_plan_changes_nothing(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER, plan="business")
    before = db_snapshot()

    response = api_client.put(
        shop.billing_url("/plan"), {"plan": "business"}, token=shop.owner.token
    )

    assert response.status_code == 200
    assert body(response)["plan"]["id"] == "business"
    assert_unchanged(before)


SIX_BOTS = "The workspace has 6 bots; Community allows 5. Delete 1 first."
OWNS_ONE = "The owner already owns 1 Community workspace, the most Community allows."


@pytest.mark.parametrize(
    ("bots", "owns_community", "reasons"),
    [
        (6, False, [SIX_BOTS]),
        (5, True, [OWNS_ONE]),
        (6, True, [SIX_BOTS, OWNS_ONE]),
    ],
    ids=["too-many-bots", "owner-has-a-community-workspace", "both"],
)
def test_a_downgrade_outside_the_community_limits_is_blocked_with_the_reasons(
    api_client: ApiClient, bots: int, owns_community: bool, reasons: list[str]
) -> None:
    shop = Shop(Role.OWNER, plan="business")
    add_bots(shop, bots)
    if owns_community:
        workspace_services.workspace_create(actor=shop.owner.actor, name="Side project")
    before = db_snapshot()

    response = api_client.put(
        shop.billing_url("/plan"), {"plan": "community"}, token=shop.owner.token
    )

    problem = assert_problem(response, 409, "downgrade_blocked")
    assert problem["reasons"] == reasons
    assert problem["detail"] == "The workspace cannot move to Community: " + " ".join(reasons)
    assert_unchanged(before)


def test_five_bots_fit_community(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER, plan="business")
    add_bots(shop, 5)

    response = api_client.put(
        shop.billing_url("/plan"), {"plan": "community"}, token=shop.owner.token
    )

    assert response.status_code == 200
    assert body(response)["pending_plan"] == "community"


@pytest.mark.parametrize("plan", ["enterprise", "platinum", "", "Business", " community"])
def test_enterprise_and_unknown_plans_are_invalid(api_client: ApiClient, plan: str) -> None:
    shop = community_with_card(api_client)
    before = db_snapshot()

    response = api_client.put(shop.billing_url("/plan"), {"plan": plan}, token=shop.owner.token)

    problem = assert_problem(response, 400, "invalid_plan")
    assert problem["errors"][0]["field"] == "plan"
    assert_unchanged(before)


def test_an_enterprise_workspace_changes_plan_only_through_staff(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER, plan="business")
    shop.set_terms(plan="enterprise")
    before = db_snapshot()

    response = api_client.put(
        shop.billing_url("/plan"), {"plan": "community"}, token=shop.owner.token
    )

    assert_problem(response, 409, "plan_managed_by_staff")
    assert_unchanged(before)


# --- PUT / DELETE billing/payment-method --------------------------------------------------


@pytest.mark.parametrize(
    ("token", "brand", "last4"),
    [
        ("pm_card_visa", "visa", "4242"),
        ("pm_card_mastercard", "mastercard", "4444"),
        ("pm_card_amex", "amex", "8431"),
    ],
)
def test_a_test_card_is_stored_as_its_token_with_what_may_be_shown(
    api_client: ApiClient, token: str, brand: str, last4: str
) -> None:
    shop = Shop(Role.OWNER)
    seq = shop.last_seq()

    response = api_client.put(
        shop.billing_url("/payment-method"), {"token": token}, token=shop.owner.token
    )

    assert response.status_code == 200, response.content
    card = {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2029}
    assert body(response)["payment_method"] == card
    stored = PaymentMethod.objects.get(workspace_id=shop.id)
    assert (stored.gateway_token, stored.brand, stored.last4) == (token, brand, last4)
    assert (stored.exp_month, stored.exp_year) == (12, 2029)
    [event] = shop.events(after=seq)
    assert (event.action, event.event, event.target_type) == (
        "updated",
        "billing.payment_method_added",
        "configuration",
    )
    assert event.details == {"before": None, "after": f"{brand} {last4}"}


def test_replacing_the_card_keeps_one_and_audits_both(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER, plan="business")
    seq = shop.last_seq()

    response = api_client.put(
        shop.billing_url("/payment-method"), {"token": "pm_card_mastercard"}, token=shop.owner.token
    )

    assert response.status_code == 200
    assert body(response)["payment_method"]["brand"] == "mastercard"
    assert PaymentMethod.objects.filter(workspace_id=shop.id).count() == 1
    [event] = shop.events(after=seq)
    assert (event.action, event.event) == ("updated", "billing.payment_method_replaced")
    assert event.details == {"before": "visa 4242", "after": "mastercard 4444"}


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("pm_card_chargeDeclined", "Your card was declined."),
        ("pm_card_chargeDeclinedInsufficientFunds", "Your card has insufficient funds."),
    ],
)
@pytest.mark.parametrize("plan", ["community", "business"])
def test_a_declined_card_is_refused_and_nothing_is_stored(
    api_client: ApiClient, token: str, message: str, plan: str
) -> None:
    shop = Shop(Role.OWNER, plan=plan)
    before = db_snapshot()

    response = api_client.put(
        shop.billing_url("/payment-method"), {"token": token}, token=shop.owner.token
    )

    problem = assert_problem(response, 400, "card_declined")
    assert problem["detail"] == message
    assert problem["errors"] == [{"field": "token", "message": message}]
    assert_unchanged(before)


@pytest.mark.parametrize("token", ["pm_card_unknown", "tok_visa", "4242424242424242", "", "  "])
def test_an_unknown_payment_method_is_invalid(api_client: ApiClient, token: str) -> None:
    shop = Shop(Role.OWNER)
    before = db_snapshot()

    response = api_client.put(
        shop.billing_url("/payment-method"), {"token": token}, token=shop.owner.token
    )

    problem = assert_problem(response, 400, "invalid_payment_method")
    assert problem["errors"][0]["field"] == "token"
    assert_unchanged(before)


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [
        (Role.VIEWER, 403, "forbidden"),
        (Role.DEVELOPER, 403, "forbidden"),
        (None, 404, "workspace_not_found"),
    ],
)
def test_only_billing_collaborators_get_a_card_to_the_gateway(
    api_client: ApiClient, role: Role | None, status: int, code: str
) -> None:
    # Otherwise any signed-in user could test cards against the gateway through any id.
    shop = Shop(role)
    before = db_snapshot()

    with mock.patch("botyard.billing.services.get_gateway") as gateway:
        response = api_client.put(
            shop.billing_url("/payment-method"),
            {"token": "pm_card_chargeDeclined"},
            token=shop.caller.token,
        )

    assert_problem(response, status, code)
    gateway.assert_not_called()
    assert_unchanged(before)


def test_the_card_of_a_community_workspace_can_be_removed(api_client: ApiClient) -> None:
    shop = community_with_card(api_client)
    seq = shop.last_seq()

    response = api_client.delete(shop.billing_url("/payment-method"), token=shop.owner.token)

    assert response.status_code == 204
    assert response.content == b""
    assert not PaymentMethod.objects.filter(workspace_id=shop.id).exists()
    assert overview(api_client, shop)["payment_method"] is None
    [event] = shop.events(after=seq)
    assert (event.action, event.event) == ("removed", "billing.payment_method_removed")
    assert event.details == {"before": "visa 4242"}


def test_the_card_of_a_paid_plan_cannot_be_removed(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER, plan="business")
    before = db_snapshot()

    response = api_client.delete(shop.billing_url("/payment-method"), token=shop.owner.token)

    assert_problem(response, 409, "payment_method_required")
    assert_unchanged(before)


def test_nor_while_a_downgrade_waits_for_the_period_end(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER, plan="business")
    api_client.put(shop.billing_url("/plan"), {"plan": "community"}, token=shop.owner.token)
    before = db_snapshot()

    response = api_client.delete(shop.billing_url("/payment-method"), token=shop.owner.token)

    assert_problem(response, 409, "payment_method_required")
    assert_unchanged(before)


def test_removing_a_card_that_is_not_there_is_not_found(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER)
    before = db_snapshot()

    response = api_client.delete(shop.billing_url("/payment-method"), token=shop.owner.token)

    assert_problem(response, 404, "no_payment_method")
    assert_unchanged(before)


# --- PUT billing/budget -------------------------------------------------------------------


def test_a_budget_below_the_plan_price_is_refused(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER, plan="business")
    before = db_snapshot()

    response = api_client.put(
        shop.billing_url("/budget"), {"amount": 8_899}, token=shop.owner.token
    )

    problem = assert_problem(response, 400, "budget_below_plan_price")
    assert problem["errors"] == [
        {"field": "amount", "message": "The budget must be at least the plan price, 8900 cents."}
    ]
    assert_unchanged(before)


def test_a_budget_is_set_changed_and_cleared_each_audited(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER, plan="business")
    seq = shop.last_seq()

    for amount in (8_900, 12_000, None):
        response = api_client.put(
            shop.billing_url("/budget"), {"amount": amount}, token=shop.owner.token
        )
        assert response.status_code == 200, response.content
        assert body(response)["budget"] == (money(amount) if amount is not None else None)
        assert shop.refresh().budget_cents == amount

    changes = [(e.action, e.event, e.details) for e in shop.events(after=seq)]
    assert changes == [
        ("updated", "billing.budget_changed", {"before": None, "after": 8_900}),
        ("updated", "billing.budget_changed", {"before": 8_900, "after": 12_000}),
        ("updated", "billing.budget_changed", {"before": 12_000, "after": None}),
    ]


def test_setting_the_same_budget_again_writes_nothing(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER, plan="business")
    api_client.put(shop.billing_url("/budget"), {"amount": 10_000}, token=shop.owner.token)
    before = db_snapshot()

    response = api_client.put(
        shop.billing_url("/budget"), {"amount": 10_000}, token=shop.owner.token
    )

    assert response.status_code == 200
    assert body(response)["budget"] == money(10_000)
    assert_unchanged(before)


def test_community_has_nothing_to_cap(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER)
    before = db_snapshot()

    response = api_client.put(shop.billing_url("/budget"), {"amount": 500}, token=shop.owner.token)

    assert_problem(response, 409, "budget_needs_paid_plan")
    assert_unchanged(before)


@pytest.mark.parametrize("payload", [{"amount": "a lot"}, {"amount": 9_000.5}, {"amount": -1}, {}])
def test_a_malformed_budget_is_a_validation_error(api_client: ApiClient, payload: Any) -> None:
    shop = Shop(Role.OWNER, plan="business")
    before = db_snapshot()

    response = api_client.put(shop.billing_url("/budget"), payload, token=shop.owner.token)

    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"][0]["field"] == "amount"
    assert_unchanged(before)


# --- invoices -----------------------------------------------------------------------------

NUMBER = re.compile(r"^[0-9A-Z]{8}-\d{4}$")


def test_invoices_are_listed_and_shown_with_their_lines(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER, plan="business")
    shop.set_used(25_437)
    billing_close_periods(now=PERIOD_END)
    invoice = Invoice.objects.get(workspace_id=shop.id)

    listed = api_client.get(shop.invoices_url(), token=shop.owner.token)
    shown = api_client.get(shop.invoices_url(f"/{invoice.id}"), token=shop.owner.token)

    summary = {
        "id": invoice.id,
        "number": invoice.number,
        "period": {"start": T0_TEXT, "end": PERIOD_END_TEXT},
        "total": money(9_119),
        "status": "paid",
        "attempts": 1,
        "next_attempt_at": None,
        "issued_at": PERIOD_END_TEXT,
    }
    assert listed.status_code == 200
    assert body(listed) == {"items": [summary], "next_cursor": None}
    assert NUMBER.match(invoice.number)
    assert shown.status_code == 200
    assert body(shown) == {
        **summary,
        "lines": [
            {
                "description": "Business plan, 2026-03-01 to 2026-04-01",
                "quantity": 1,
                "unit_price": {"amount": 8_900, "currency": USD, "per": 1},
                "amount": money(8_900),
            },
            {
                "description": "Messages beyond the 25,000 included (per 1,000)",
                "quantity": 437,
                "unit_price": {"amount": 500, "currency": USD, "per": 1_000},
                "amount": money(219),
            },
        ],
    }


def test_an_invoice_of_another_workspace_is_not_found(api_client: ApiClient) -> None:
    mine, theirs = Shop(Role.OWNER, plan="business"), Shop(Role.OWNER, plan="business")
    billing_close_periods(now=PERIOD_END)
    their_invoice = Invoice.objects.get(workspace_id=theirs.id)

    for suffix in (f"/{their_invoice.id}", f"/{their_invoice.id}/pdf", "/inv_doesnotexist"):
        response = api_client.get(mine.invoices_url(suffix), token=mine.owner.token)
        assert_problem(response, 404, "invoice_not_found")
    assert not AuditEvent.objects.filter(event="billing.invoice_downloaded").exists()


def test_listing_invoices_takes_the_same_queries_for_one_or_many(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER, plan="business")

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = api_client.get(shop.invoices_url(), token=shop.owner.token)
        assert response.status_code == 200
        return len(captured)

    billing_close_periods(now=PERIOD_END)
    queries_for_list()  # the first request of a token also notes when it was last used
    one = queries_for_list()
    billing_close_periods(now=dt.datetime(2026, 8, 2, tzinfo=UTC))
    assert len(body(api_client.get(shop.invoices_url(), token=shop.owner.token))["items"]) == 5
    assert queries_for_list() == one


def test_invoices_are_listed_newest_first_a_page_at_a_time(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER, plan="business")
    billing_close_periods(now=dt.datetime(2026, 6, 2, tzinfo=UTC))  # March, April, May

    first = body(api_client.get(shop.invoices_url(), {"limit": 2}, token=shop.owner.token))
    rest = body(
        api_client.get(
            shop.invoices_url(),
            {"limit": 2, "cursor": first["next_cursor"]},
            token=shop.owner.token,
        )
    )

    starts = [item["period"]["start"][:10] for item in first["items"] + rest["items"]]
    assert starts == ["2026-05-01", "2026-04-01", "2026-03-01"]
    assert rest["next_cursor"] is None


# --- Enterprise: terms set by platform staff ----------------------------------------------


def test_enterprise_terms_drive_the_overview_and_the_limits(api_client: ApiClient) -> None:
    shop = Shop(Role.OWNER, plan="business")
    shop.set_terms(
        plan="enterprise",
        custom_bot_limit=12,
        custom_message_limit=100_000,
        custom_price_cents=150_000,
    )
    shop.set_used(100_003)  # 3 x 0.4 ¢ = 1.2 ¢ → 1 ¢

    result = overview(api_client, shop)

    assert result["plan"] == {"id": "enterprise", "name": "Enterprise", "price": money(150_000)}
    assert result["current_bill"] == money(150_001)
    assert result["messages"] == {"used": 100_003, "limit": 100_000, "status": "limit_reached"}
    workspace = body(api_client.get(shop.url, token=shop.owner.token))
    assert (workspace["plan"], workspace["bot_limit"]) == ("enterprise", 12)
    # The budget's floor is the workspace's own price.
    low = api_client.put(shop.billing_url("/budget"), {"amount": 149_999}, token=shop.owner.token)
    assert_problem(low, 400, "budget_below_plan_price")
    ok = api_client.put(shop.billing_url("/budget"), {"amount": 150_000}, token=shop.owner.token)
    assert body(ok)["budget"] == money(150_000)
    # Messages beyond the included ones are billed, not refused (no budget room is left, so
    # with the budget just set at the price, the next one is refused).
    api_client.put(shop.billing_url("/budget"), {"amount": None}, token=shop.owner.token)
    answer = shop.post_message(api_client.django)
    assert answer.status_code == 200, answer.content
    assert body(answer)["usage"] == {"used": 100_004, "limit": 100_000}
    # The bot limit is the custom one: the 12th bot fits, the 13th does not.
    add_bots(shop, 12 - Workspace.objects.get(pk=shop.id).bots.count())
    more = api_client.post(shop.url + "/bots", {"name": "One too many"}, token=shop.owner.token)
    assert_problem(more, 409, "bot_limit_reached")


def test_enterprise_without_custom_terms_uses_the_catalogue_defaults(
    api_client: ApiClient,
) -> None:
    shop = Shop(Role.OWNER, plan="business")
    shop.set_terms(plan="enterprise")

    result = overview(api_client, shop)

    assert result["plan"]["price"] == money(50_000)
    assert result["messages"]["limit"] == 250_000


def test_the_admin_edits_the_plan_and_the_enterprise_terms_of_a_workspace() -> None:
    registered = admin.site._registry[Workspace]
    assert isinstance(registered, WorkspaceAdmin)
    assert registered.list_display == ("id", "name", "owner", "plan", "past_due")
    editable = set(registered.fields or ()) - set(registered.readonly_fields)
    assert {"plan", "custom_bot_limit", "custom_message_limit", "custom_price_cents"} <= editable
    assert {"id", "created_at"} <= set(registered.readonly_fields)
    tombstones = admin.site._registry[WorkspaceTombstone]
    staff = mock.Mock(is_active=True, is_staff=True, is_superuser=True)
    request = mock.Mock(user=staff)
    assert not tombstones.has_add_permission(request)
    assert not tombstones.has_change_permission(request)
    assert not tombstones.has_delete_permission(request)


def _change_form_data(client: Client, url: str) -> dict[str, str]:
    """What the admin's change form posts back unchanged."""
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data: dict[str, str] = {}
    for name in form.fields:
        value = form[name].value()
        if isinstance(value, dt.datetime):
            data[f"{name}_0"], data[f"{name}_1"] = f"{value:%Y-%m-%d}", f"{value:%H:%M:%S}"
        else:
            data[name] = "" if value is None else str(value)
    return data


def test_staff_put_a_workspace_on_enterprise_through_the_admin_change_form(
    api_client: ApiClient,
) -> None:
    shop = Shop(Role.OWNER, plan="business")
    staff = factories.user(email="staff@botyard.example", is_staff=True)
    browser = Client()
    browser.force_login(staff)
    url = f"/admin/workspaces/workspace/{shop.id}/change/"
    seq = shop.last_seq()

    data = _change_form_data(browser, url)
    data.update(
        plan="enterprise",
        custom_bot_limit="40",
        custom_message_limit="500000",
        custom_price_cents="120000",
        _save="Save",
    )
    response = browser.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    workspace = shop.refresh()
    assert (workspace.plan, workspace.custom_bot_limit) == ("enterprise", 40)
    assert (workspace.custom_message_limit, workspace.custom_price_cents) == (500_000, 120_000)
    assert (workspace.name, workspace.owner_id, workspace.plan_started_at) == (
        "Acme",
        shop.owner.id,
        T0,
    )
    result = overview(api_client, shop)
    assert result["plan"] == {"id": "enterprise", "name": "Enterprise", "price": money(120_000)}
    assert result["messages"]["limit"] == 500_000
    [event] = shop.events(after=seq)
    assert (event.actor_email, event.action, event.event) == (
        "staff@botyard.example",
        "updated",
        "billing.terms_changed",
    )
    assert event.details["after"] == {
        "plan": "enterprise",
        "custom_bot_limit": 40,
        "custom_message_limit": 500_000,
        "custom_price_cents": 120_000,
    }


def test_the_admin_is_closed_to_users_who_are_not_staff() -> None:
    shop = Shop(Role.OWNER, plan="business")
    browser = Client()
    browser.force_login(shop.owner.user)

    response = browser.get(f"/admin/workspaces/workspace/{shop.id}/change/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
