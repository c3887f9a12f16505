"""An owner upgrades to Business with a test card, sets a budget, and downloads the invoice
issued when the period is closed by the command line with a moved clock."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import Server

PASSWORD = "harbour-lantern-7093"

Screenshot = Callable[[Page, str], Path]


def test_upgrade_set_budget_and_download_an_invoice(
    page: Page, server: Server, screenshot: Screenshot
) -> None:
    page.goto("/signup")
    page.get_by_label("Your name").fill("Bea Business")
    page.get_by_label("Email").fill(f"bea-{secrets.token_hex(4)}@example.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.goto("/workspaces/new")
    page.get_by_label("Workspace name").fill("Growing Fast")
    page.get_by_role("button", name="Create workspace").click()
    page.get_by_role("link", name="Billing").click()

    expect(page.get_by_text("Community $0.00 / month")).to_be_visible()
    expect(page.get_by_role("button", name="Upgrade to Business")).to_be_disabled()
    screenshot(page, "billing-community")

    page.get_by_label("Test card").select_option("pm_card_chargeDeclined")
    page.get_by_role("button", name="Add card").click()
    expect(page.locator(".field-error")).to_contain_text("Your card was declined.")

    page.get_by_label("Test card").select_option("pm_card_visa")
    page.get_by_role("button", name="Add card").click()
    expect(page.get_by_text("Payment method set: visa •••• 4242.")).to_be_visible()
    page.get_by_role("button", name="Upgrade to Business").click()
    expect(page.get_by_text("The workspace is on business.")).to_be_visible()
    expect(page.get_by_text("Business $89.00 / month")).to_be_visible()

    page.get_by_label("Monthly budget (USD)").fill("50")
    page.get_by_role("button", name="Save budget").click()
    expect(page.locator(".field-error")).to_contain_text("at least the plan price")
    page.get_by_label("Monthly budget (USD)").fill("120.00")
    page.get_by_role("button", name="Save budget").click()
    expect(page.get_by_text("Monthly budget set to $120.00.")).to_be_visible()
    expect(page.get_by_text("No invoices yet.")).to_be_visible()

    # Close the period as of 32 days from now: one invoice, charged to the card.
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=32)).strftime("%Y-%m-%dT%H:%M:%SZ")
    closed = server.run_cli("billing", "close-periods", "--now", later)
    assert "issued 1 invoice(s), 1 paid" in closed.stdout
    again = server.run_cli("billing", "close-periods", "--now", later)
    assert "issued 0 invoice(s)" in again.stdout

    page.reload()
    row = page.get_by_role("row").filter(has_text="$89.00")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Paid")
    screenshot(page, "billing")
    with page.expect_download() as download_info:
        row.get_by_role("link", name="PDF").click()
    download = download_info.value
    assert download.suggested_filename.startswith("invoice-")
    assert download.suggested_filename.endswith(".pdf")
    path = download.path()
    assert path is not None and Path(path).read_bytes().startswith(b"%PDF")
