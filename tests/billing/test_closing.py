"""Closing billing periods (product.md §6): one invoice per ended paid period, with its lines
and total, charged to the card with an idempotency key; failed charges retried (after 3
days, then 5 more), the workspace past due after the third failure; idempotent when run
twice, on two workers at once, or again after a crash. And the command that runs it,
`botyard billing close-periods --now`.

What happens after the third failure (decided from the code, and documented here):
nothing is charged again on its own: the invoice stays open with next_attempt_at null and
the workspace past due, however often closing runs. Replacing the card makes the open
invoices due at once, so the next run charges them to the new card (a 4th attempt); if it
succeeds the invoice is paid and the workspace no longer past due.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest

from botyard.audit.models import AuditEvent
from botyard.billing.closing import ClosingReport, billing_close_periods
from botyard.billing.gateway import ChargeResult, OfflineGateway
from botyard.billing.models import ChargeAttempt, Invoice, InvoiceLine
from botyard.bots import services as bot_services
from botyard.core import clock
from botyard.workspaces.roles import Role
from tests.billing.world import PERIOD_END, T0, UTC, Shop, body, race
from tests.helpers import ApiClient
from tests.workspaces.world import assert_unchanged, db_snapshot

pytestmark = pytest.mark.usefixtures("t0")

DAY = dt.timedelta(days=1)
NUMBER = re.compile(r"^[0-9A-Z]{8}-(\d{4})$")
NOTHING = (0, 0, 0, 0)  # issued, paid, failed, downgrades applied


class RecordingGateway(OfflineGateway):
    """The offline gateway, noting every charge it is asked for."""

    def __init__(self) -> None:
        self.charges: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def charge(
        self, *, token: str, amount_cents: int, currency: str, idempotency_key: str
    ) -> ChargeResult:
        asked = {"token": token, "amount": amount_cents, "currency": currency}
        with self._lock:
            self.charges.append({**asked, "key": idempotency_key})
        return super().charge(
            token=token,
            amount_cents=amount_cents,
            currency=currency,
            idempotency_key=idempotency_key,
        )


@pytest.fixture
def gateway() -> Iterator[RecordingGateway]:
    recorder = RecordingGateway()
    with mock.patch("botyard.billing.closing.get_gateway", return_value=recorder):
        yield recorder


def outcome(report: ClosingReport) -> tuple[int, int, int, int]:
    return (len(report.issued), len(report.charged), len(report.failed), len(report.downgraded))


def invoices(shop: Shop) -> list[Invoice]:
    return list(Invoice.objects.filter(workspace_id=shop.id).order_by("period_start"))


def attempts(invoice: Invoice) -> list[tuple[int, bool, str]]:
    return [
        (charge.number, charge.succeeded, charge.decline_code)
        for charge in ChargeAttempt.objects.filter(invoice=invoice).order_by("number")
    ]


def set_card(api_client: ApiClient, shop: Shop, token: str) -> None:
    response = api_client.put(
        shop.billing_url("/payment-method"), {"token": token}, token=shop.owner.token
    )
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_an_ended_period_gets_one_invoice_with_its_lines_charged_once(
    gateway: RecordingGateway,
) -> None:
    shop = Shop(Role.OWNER, plan="business")
    shop.set_used(25_437)

    just_before = PERIOD_END - dt.timedelta(microseconds=1)
    assert outcome(billing_close_periods(now=just_before)) == NOTHING
    report = billing_close_periods(now=PERIOD_END)

    [invoice] = invoices(shop)
    assert (report.issued, report.charged, report.failed) == ([invoice.id], [invoice.id], [])
    match = NUMBER.match(invoice.number)
    assert match and match.group(1) == "0001"
    assert (invoice.plan, invoice.period_start, invoice.period_end) == ("business", T0, PERIOD_END)
    assert (invoice.total_cents, invoice.currency, invoice.status) == (9_119, "usd", "paid")
    assert (invoice.attempts, invoice.next_attempt_at) == (1, None)
    assert (invoice.issued_at, invoice.paid_at) == (PERIOD_END, PERIOD_END)
    lines = InvoiceLine.objects.filter(invoice=invoice).order_by("position")
    assert [
        (line.description, line.quantity, line.unit_price_cents, line.unit_size, line.amount_cents)
        for line in lines
    ] == [
        ("Business plan, 2026-03-01 to 2026-04-01", 1, 8_900, 1, 8_900),
        ("Messages beyond the 25,000 included (per 1,000)", 437, 500, 1_000, 219),
    ]
    assert sum(line.amount_cents for line in lines) == invoice.total_cents
    [charge] = ChargeAttempt.objects.filter(invoice=invoice)
    assert (charge.number, charge.succeeded, charge.attempted_at) == (1, True, PERIOD_END)
    assert gateway.charges == [
        {"token": "pm_card_visa", "amount": 9_119, "currency": "usd", "key": charge.idempotency_key}
    ]
    assert charge.idempotency_key.endswith("-attempt-1")
    assert charge.charge_id.startswith("ch_")
    issued = AuditEvent.objects.get(workspace_id=shop.id, event="billing.invoice_issued")
    assert (issued.action, issued.actor_email, issued.target_id) == ("added", "system", invoice.id)


@pytest.mark.django_db
def test_a_period_without_overage_has_the_plan_fee_only(gateway: RecordingGateway) -> None:
    shop = Shop(Role.OWNER, plan="business")
    shop.set_used(25_000)  # all included

    billing_close_periods(now=PERIOD_END)

    [invoice] = invoices(shop)
    assert invoice.total_cents == 8_900
    assert list(invoice.lines.values_list("description", "amount_cents")) == [
        ("Business plan, 2026-03-01 to 2026-04-01", 8_900)
    ]


@pytest.mark.django_db
def test_closing_again_issues_and_charges_nothing_more(gateway: RecordingGateway) -> None:
    shop = Shop(Role.OWNER, plan="business")
    billing_close_periods(now=PERIOD_END)
    before = db_snapshot()

    again = billing_close_periods(now=PERIOD_END)
    later = billing_close_periods(now=PERIOD_END + 20 * DAY)

    assert outcome(again) == outcome(later) == NOTHING
    assert_unchanged(before)
    assert len(invoices(shop)) == 1
    assert len(gateway.charges) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_issue_one_invoice_and_one_charge_per_period(
    gateway: RecordingGateway,
) -> None:
    shops = [Shop(Role.OWNER, plan="business", name=f"Shop {n}") for n in range(3)]

    reports, failures = race(6, lambda i: billing_close_periods(now=PERIOD_END))

    assert failures == []
    assert sum(len(report.issued) for report in reports) == 3
    assert sum(len(report.charged) for report in reports) == 3
    for shop in shops:
        [invoice] = invoices(shop)
        assert (invoice.status, invoice.attempts) == ("paid", 1)
        assert len(attempts(invoice)) == 1
    assert len(gateway.charges) == 3
    assert len({charge["key"] for charge in gateway.charges}) == 3


@pytest.mark.django_db
def test_a_run_that_crashed_after_the_charge_repeats_the_same_charge(
    gateway: RecordingGateway,
) -> None:
    shop = Shop(Role.OWNER, plan="business")

    with (
        mock.patch.object(ChargeAttempt.objects, "create", side_effect=RuntimeError("crash")),
        pytest.raises(RuntimeError),
    ):
        billing_close_periods(now=PERIOD_END)
    assert invoices(shop) == []  # the run rolled back, but the gateway had been asked
    billing_close_periods(now=PERIOD_END)

    [invoice] = invoices(shop)
    assert invoice.status == "paid"
    first, second = gateway.charges
    assert first == second  # the same idempotency key: the gateway charges once


@pytest.mark.django_db
def test_three_periods_ended_at_once_get_three_invoices(gateway: RecordingGateway) -> None:
    shop = Shop(Role.OWNER, plan="business")
    shop.set_used(25_003, at=PERIOD_END + DAY)  # April: 3 overage messages, 1.5 ¢ → 2 ¢

    report = billing_close_periods(now=dt.datetime(2026, 6, 1, 9, 30, tzinfo=UTC))

    issued = invoices(shop)
    assert outcome(report) == (3, 3, 0, 0)
    assert [(i.period_start.date(), i.period_end.date()) for i in issued] == [
        (dt.date(2026, 3, 1), dt.date(2026, 4, 1)),
        (dt.date(2026, 4, 1), dt.date(2026, 5, 1)),
        (dt.date(2026, 5, 1), dt.date(2026, 6, 1)),
    ]
    assert [i.total_cents for i in issued] == [8_900, 8_902, 8_900]
    assert [NUMBER.sub(r"\1", i.number) for i in issued] == ["0001", "0002", "0003"]
    assert all(NUMBER.match(i.number) for i in issued)
    assert {i.status for i in issued} == {"paid"}
    assert [c["amount"] for c in gateway.charges] == [8_900, 8_902, 8_900]
    assert len({c["key"] for c in gateway.charges}) == 3


@pytest.mark.django_db
def test_community_workspaces_get_no_invoices(gateway: RecordingGateway) -> None:
    shop = Shop(Role.OWNER)
    shop.set_used(1_999)

    report = billing_close_periods(now=dt.datetime(2026, 6, 2, tzinfo=UTC))

    assert outcome(report) == NOTHING
    assert invoices(shop) == []
    assert gateway.charges == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token",
    # Both name the card that attaches but fails every charge (•••• 0341): Stripe calls it
    # pm_card_chargeCustomerFail, the dashboard's chooser pm_card_visa_chargeDeclined.
    ["pm_card_visa_chargeDeclined", "pm_card_chargeCustomerFail"],
)
def test_a_declining_card_is_retried_after_3_and_5_days_then_the_workspace_is_past_due(
    api_client: ApiClient, gateway: RecordingGateway, token: str
) -> None:
    shop = Shop(Role.OWNER, plan="business")
    set_card(api_client, shop, token)

    first = billing_close_periods(now=PERIOD_END)

    [invoice] = invoices(shop)
    assert (first.issued, first.charged, first.failed) == ([invoice.id], [], [invoice.id])
    assert (invoice.status, invoice.attempts) == ("open", 1)
    assert invoice.next_attempt_at == PERIOD_END + 3 * DAY
    assert attempts(invoice) == [(1, False, "generic_decline")]
    assert shop.refresh().past_due is False

    a_second_early = PERIOD_END + 3 * DAY - dt.timedelta(seconds=1)
    assert outcome(billing_close_periods(now=a_second_early)) == NOTHING
    second = billing_close_periods(now=PERIOD_END + 3 * DAY)
    invoice.refresh_from_db()
    assert (second.failed, invoice.status, invoice.attempts) == ([invoice.id], "open", 2)
    assert invoice.next_attempt_at == PERIOD_END + 8 * DAY
    assert shop.refresh().past_due is False

    third = billing_close_periods(now=PERIOD_END + 8 * DAY)
    invoice.refresh_from_db()
    assert (third.failed, invoice.status, invoice.attempts) == ([invoice.id], "open", 3)
    assert invoice.next_attempt_at is None
    assert shop.refresh().past_due is True
    assert attempts(invoice) == [(n, False, "generic_decline") for n in (1, 2, 3)]
    assert [c["key"].rsplit("-", 1)[1] for c in gateway.charges] == ["1", "2", "3"]
    assert {(c["token"], c["amount"]) for c in gateway.charges} == {(token, 8_900)}

    # No fourth attempt on its own, however often closing runs.
    before = db_snapshot()
    for days in (9, 15, 29):
        assert outcome(billing_close_periods(now=PERIOD_END + days * DAY)) == NOTHING
    assert_unchanged(before)
    assert len(gateway.charges) == 3
    listed = body(api_client.get(shop.invoices_url(), token=shop.owner.token))["items"]
    assert [(i["status"], i["attempts"], i["next_attempt_at"]) for i in listed] == [
        ("open", 3, None)
    ]
    assert body(api_client.get(shop.billing_url(), token=shop.owner.token))["past_due"] is True


@pytest.mark.django_db
def test_a_new_card_pays_the_past_due_invoice_at_the_next_run(
    api_client: ApiClient, gateway: RecordingGateway
) -> None:
    shop = Shop(Role.OWNER, plan="business")
    set_card(api_client, shop, "pm_card_visa_chargeDeclined")
    for days in (0, 3, 8):
        billing_close_periods(now=PERIOD_END + days * DAY)
    [invoice] = invoices(shop)
    assert (invoice.attempts, shop.refresh().past_due) == (3, True)
    clock.advance(PERIOD_END + 10 * DAY - clock.now())

    set_card(api_client, shop, "pm_card_mastercard_prepaid")  # another card that pays
    invoice.refresh_from_db()
    assert invoice.next_attempt_at == clock.now()  # due at the next run
    assert len(gateway.charges) == 3  # not charged by setting the card itself
    report = billing_close_periods(now=clock.now())

    invoice.refresh_from_db()
    assert (report.charged, invoice.status, invoice.attempts) == ([invoice.id], "paid", 4)
    assert (invoice.next_attempt_at, invoice.paid_at) == (None, clock.now())
    assert attempts(invoice)[-1] == (4, True, "")
    assert gateway.charges[-1]["token"] == "pm_card_mastercard_prepaid"
    assert shop.refresh().past_due is False
    assert outcome(billing_close_periods(now=clock.now() + DAY)) == NOTHING
    assert len(gateway.charges) == 4


@pytest.mark.django_db
def test_a_new_card_that_declines_too_leaves_the_workspace_past_due(
    api_client: ApiClient, gateway: RecordingGateway
) -> None:
    shop = Shop(Role.OWNER, plan="business")
    set_card(api_client, shop, "pm_card_visa_chargeDeclined")
    for days in (0, 3, 8):
        billing_close_periods(now=PERIOD_END + days * DAY)
    clock.advance(PERIOD_END + 10 * DAY - clock.now())

    set_card(api_client, shop, "pm_card_visa_chargeDeclined")
    billing_close_periods(now=clock.now())
    billing_close_periods(now=clock.now() + 5 * DAY)

    [invoice] = invoices(shop)
    assert (invoice.status, invoice.attempts, invoice.next_attempt_at) == ("open", 4, None)
    assert shop.refresh().past_due is True
    assert len(gateway.charges) == 4


@pytest.mark.django_db
def test_a_failed_last_invoice_is_retried_after_the_move_to_community(
    api_client: ApiClient, gateway: RecordingGateway
) -> None:
    shop = Shop(Role.OWNER, plan="business")
    set_card(api_client, shop, "pm_card_visa_chargeDeclined")
    api_client.put(shop.billing_url("/plan"), {"plan": "community"}, token=shop.owner.token)

    assert outcome(billing_close_periods(now=PERIOD_END)) == (1, 0, 1, 1)
    assert shop.refresh().plan == "community"
    retry = billing_close_periods(now=PERIOD_END + 3 * DAY)

    [invoice] = invoices(shop)
    assert (retry.failed, invoice.attempts) == ([invoice.id], 2)


@pytest.mark.django_db
def test_a_downgrade_the_workspace_outgrew_is_cancelled_at_the_period_end(
    api_client: ApiClient, gateway: RecordingGateway
) -> None:
    shop = Shop(Role.OWNER, plan="business")
    for n in range(5):
        bot_services.bot_create(actor=shop.owner.actor, workspace_id=shop.id, name=f"Bot {n}")
    api_client.put(shop.billing_url("/plan"), {"plan": "community"}, token=shop.owner.token)
    bot_services.bot_create(actor=shop.owner.actor, workspace_id=shop.id, name="Bot 6")

    report = billing_close_periods(now=dt.datetime(2026, 6, 1, 9, 30, tzinfo=UTC))

    assert outcome(report) == (3, 3, 0, 0)  # still Business: every period is billed
    workspace = shop.refresh()
    assert (workspace.plan, workspace.pending_plan) == ("business", "")
    assert workspace.plan_started_at == T0
    cancelled = AuditEvent.objects.get(workspace_id=shop.id, event="billing.downgrade_cancelled")
    assert (cancelled.actor_email, cancelled.action) == ("system", "updated")
    assert cancelled.details == {
        "reasons": ["The workspace has 6 bots; Community allows 5. Delete 1 first."]
    }


@pytest.mark.django_db
def test_a_downgrade_bills_only_the_last_business_period_when_several_ended(
    api_client: ApiClient, gateway: RecordingGateway
) -> None:
    shop = Shop(Role.OWNER, plan="business")
    api_client.put(shop.billing_url("/plan"), {"plan": "community"}, token=shop.owner.token)

    report = billing_close_periods(now=dt.datetime(2026, 6, 1, 9, 30, tzinfo=UTC))

    assert outcome(report) == (1, 1, 0, 1)
    [invoice] = invoices(shop)
    assert (invoice.period_start, invoice.period_end, invoice.plan) == (T0, PERIOD_END, "business")
    workspace = shop.refresh()
    assert (workspace.plan, workspace.plan_started_at) == ("community", PERIOD_END)


# --- the command ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_command_closes_the_periods_as_of_now_and_prints_the_summary(
    cli: Callable[..., int], capsys: pytest.CaptureFixture[str], gateway: RecordingGateway
) -> None:
    with clock.frozen(dt.datetime(2026, 12, 3, 15, 17, 39, tzinfo=UTC)):
        shop = Shop(Role.OWNER, plan="business")

    assert cli("billing", "close-periods", "--now", "2027-01-04T00:00:00Z") == 0
    assert capsys.readouterr().out == (
        "issued 1 invoice(s), 1 paid, 0 charge(s) failed, 0 downgrade(s) applied\n"
    )
    [invoice] = invoices(shop)
    assert (invoice.period_start, invoice.period_end) == (
        dt.datetime(2026, 12, 3, 15, 17, 39, tzinfo=UTC),
        dt.datetime(2027, 1, 3, 15, 17, 39, tzinfo=UTC),
    )
    assert invoice.issued_at == dt.datetime(2027, 1, 4, tzinfo=UTC)

    # Another offset names the same instant; running again issues nothing.
    assert cli("billing", "close-periods", "--now", "2027-01-04T01:00:00+01:00") == 0
    assert capsys.readouterr().out.startswith("issued 0 invoice(s), 0 paid")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "error"),
    [
        (
            "2027-01-04T00:00:00",
            "error: --now: --now needs a time zone, e.g. 2026-12-03T00:00:00Z\n",
        ),
        ("next tuesday", "error: --now: Invalid isoformat string: 'next tuesday'\n"),
    ],
)
def test_the_command_refuses_a_now_it_cannot_place(
    cli: Callable[..., int], capsys: pytest.CaptureFixture[str], value: str, error: str
) -> None:
    shop = Shop(Role.OWNER, plan="business")

    assert cli("billing", "close-periods", "--now", value) == 2

    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", error)
    assert invoices(shop) == []
