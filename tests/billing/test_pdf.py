"""Every invoice can be downloaded as a PDF that states what the API states (product.md §6),
the download is audited, and the dashboard's Billing page shows the same amounts as the
API's overview and invoice list."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import pypdf
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from botyard.audit.models import AuditEvent
from botyard.billing.closing import billing_close_periods
from botyard.billing.models import Invoice
from botyard.core import clock
from botyard.workspaces.roles import Role
from tests.billing.world import PERIOD_END, UTC, Shop, body, dollars
from tests.helpers import ApiClient, assert_problem
from tests.workspaces.world import AUDIT_TABLES, assert_unchanged, db_snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("t0")]


def invoiced(used: int, *, name: str = "Acme") -> tuple[Shop, Invoice]:
    """A Business workspace whose first period, with `used` messages, has been closed."""
    shop = Shop(Role.OWNER, plan="business", name=name)
    shop.set_used(used)
    billing_close_periods(now=PERIOD_END)
    return shop, Invoice.objects.get(workspace_id=shop.id)


def pdf_text(content: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return [line for page in reader.pages for line in page.extract_text().splitlines()]


def day(rfc3339: str) -> str:
    return rfc3339[:10]


def unit_price(price: dict[str, Any]) -> str:
    per = price["per"]
    return dollars(price["amount"]) + (f" / {per:,}" if per != 1 else "")


@pytest.mark.parametrize(
    ("used", "name"),
    [(25_437, "Acme"), (1_025_437, "Café Ünïcode €"), (25_000, "Acme")],
    ids=["overage", "large-overage-and-non-latin-name", "no-overage"],
)
def test_the_pdf_states_the_numbers_of_the_api_invoice(
    api_client: ApiClient, used: int, name: str
) -> None:
    shop, invoice = invoiced(used, name=name)
    api = body(api_client.get(shop.invoices_url(f"/{invoice.id}"), token=shop.owner.token))

    response = api_client.get(shop.invoices_url(f"/{invoice.id}/pdf"), token=shop.owner.token)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="invoice-{api["number"]}.pdf"'
    )
    assert response.content.startswith(b"%PDF-")
    lines = pdf_text(response.content)
    assert lines[0] == f"Invoice {api['number']}"
    assert f"Workspace {name} ({shop.id})" in lines
    assert f"Period {day(api['period']['start'])} to {day(api['period']['end'])}" in lines
    assert f"Issued {day(api['issued_at'])}" in lines
    assert f"Status {api['status']}" in lines
    assert f"Payment attempts {api['attempts']}" in lines
    header = lines.index("Description Quantity Unit price Amount")
    rows = [
        f"{line['description']} {line['quantity']:,} {unit_price(line['unit_price'])} "
        f"{dollars(line['amount']['amount'])}"
        for line in api["lines"]
    ]
    assert lines[header + 1 : header + 1 + len(rows)] == rows
    assert lines[header + 1 + len(rows)] == f"Total {dollars(api['total']['amount'])}"
    assert len(lines) == header + 2 + len(rows)
    assert sum(line["amount"]["amount"] for line in api["lines"]) == api["total"]["amount"]


def test_the_numbers_themselves_for_437_overage_messages(api_client: ApiClient) -> None:
    shop, invoice = invoiced(25_437)

    response = api_client.get(shop.invoices_url(f"/{invoice.id}/pdf"), token=shop.owner.token)

    lines = pdf_text(response.content)
    assert "Business plan, 2026-03-01 to 2026-04-01 1 $89.00 $89.00" in lines
    assert "Messages beyond the 25,000 included (per 1,000) 437 $5.00 / 1,000 $2.19" in lines
    assert lines[-1] == "Total $91.19"


def test_a_download_is_audited_as_downloaded(api_client: ApiClient) -> None:
    shop, invoice = invoiced(25_437)
    billing = shop.add(Role.BILLING_MANAGER, email="ben@acme.example")
    seq = shop.last_seq()
    before = db_snapshot()

    response = api_client.get(
        shop.invoices_url(f"/{invoice.id}/pdf"),
        token=billing.token,
        REMOTE_ADDR="198.51.100.20",
    )

    assert response.status_code == 200
    assert_unchanged(before, besides=AUDIT_TABLES)
    [event] = shop.events(after=seq)
    assert (event.action, event.event, event.actor_email, event.ip) == (
        "downloaded",
        "billing.invoice_downloaded",
        "ben@acme.example",
        "198.51.100.20",
    )
    assert (event.target_type, event.target_id, event.target_label) == (
        "configuration",
        invoice.id,
        invoice.number,
    )
    assert event.details == {"number": invoice.number, "format": "pdf"}


def test_a_developer_may_not_download_and_nothing_is_audited(api_client: ApiClient) -> None:
    shop, invoice = invoiced(25_437)
    developer = shop.add(Role.DEVELOPER)
    before = db_snapshot()

    response = api_client.get(shop.invoices_url(f"/{invoice.id}/pdf"), token=developer.token)

    assert_problem(response, 403, "forbidden")
    assert_unchanged(before)
    assert not AuditEvent.objects.filter(event="billing.invoice_downloaded").exists()


# --- the dashboard's Billing page -----------------------------------------------------------


def signed_in(shop: Shop) -> Client:
    browser = Client()
    browser.force_login(shop.owner.user)
    return browser


def invoice_row(html: str, number: str) -> str:
    match = re.search(r"<tr>\s*<td>" + re.escape(number) + r"</td>.*?</tr>", html, re.S)
    assert match, f"no row for invoice {number}"
    return match.group(0)


def test_the_billing_page_shows_the_amounts_of_the_api(api_client: ApiClient) -> None:
    shop, invoice = invoiced(25_437)
    clock.advance(PERIOD_END + dt.timedelta(days=2) - clock.now())  # the second period
    shop.set_used(25_003)  # 1.5 ¢ of overage so far → $89.02
    overview = body(api_client.get(shop.billing_url(), token=shop.owner.token))
    [listed] = body(api_client.get(shop.invoices_url(), token=shop.owner.token))["items"]
    assert (overview["current_bill"]["amount"], listed["total"]["amount"]) == (8_902, 9_119)

    response = signed_in(shop).get(f"/w/{shop.id}/billing")

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<p class="bill">{dollars(overview["current_bill"]["amount"])}</p>' in html
    assert "$89.02" in html
    row = invoice_row(html, listed["number"])
    assert f"<td>{dollars(listed['total']['amount'])}</td>" in row
    assert "$91.19" in row
    period = f"{day(listed['period']['start'])} \u2013 {day(listed['period']['end'])}"
    assert f"<td>{period}</td>" in row
    assert f"/w/{shop.id}/invoices/{invoice.id}.pdf" in row
    assert f"{overview['messages']['used']:,}" in html  # 25,003


def test_the_dashboard_pdf_link_serves_the_same_document(api_client: ApiClient) -> None:
    shop, invoice = invoiced(25_437)

    page = signed_in(shop).get(f"/w/{shop.id}/invoices/{invoice.id}.pdf")
    api = api_client.get(shop.invoices_url(f"/{invoice.id}/pdf"), token=shop.owner.token)

    assert page.status_code == 200
    assert page["Content-Type"] == "application/pdf"
    assert pdf_text(page.content) == pdf_text(api.content)
    assert AuditEvent.objects.filter(event="billing.invoice_downloaded").count() == 2


def test_the_billing_page_takes_the_same_queries_for_one_or_many_invoices() -> None:
    shop = Shop(Role.OWNER, plan="business")
    browser = signed_in(shop)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert browser.get(f"/w/{shop.id}/billing").status_code == 200
        return len(captured)

    billing_close_periods(now=PERIOD_END)
    queries()  # the first request of a session may write to it
    one = queries()
    billing_close_periods(now=dt.datetime(2026, 8, 2, tzinfo=UTC))
    assert Invoice.objects.filter(workspace_id=shop.id).count() == 5
    assert queries() == one
