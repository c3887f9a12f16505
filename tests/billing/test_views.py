"""The Billing tab's budget form (product.md §6): what the dashboard accepts, what it
refuses next to the field, and that a refusal changes nothing."""

from __future__ import annotations

import html

import pytest
from django.test import Client

from botyard.billing.services import MAX_BUDGET_CENTS
from botyard.workspaces.models import Workspace
from botyard.workspaces.roles import Role
from tests.billing.world import Shop
from tests.workspaces.world import assert_unchanged, db_snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("t0")]


@pytest.fixture
def shop() -> Shop:
    return Shop(Role.OWNER, plan="business")


def signed_in(shop: Shop) -> Client:
    client = Client()
    client.force_login(shop.owner.user)
    return client


def post_budget(client: Client, shop: Shop, amount: str) -> object:
    return client.post(f"/w/{shop.id}/billing/budget", {"amount": amount})


def budget(shop: Shop) -> int | None:
    return Workspace.objects.get(id=shop.id).budget_cents


@pytest.mark.parametrize(
    ("typed", "cents", "shown"),
    [("150", 15_000, "$150.00"), ("99.99", 9_999, "$99.99"), ("1234567.89", 123_456_789,
     "$1,234,567.89")],
)  # fmt: skip
def test_a_budget_is_set_in_dollars_and_confirmed(
    shop: Shop, typed: str, cents: int, shown: str
) -> None:
    client = signed_in(shop)

    response = post_budget(client, shop, typed)

    assert response.status_code == 302
    assert response["Location"] == f"/w/{shop.id}/billing"
    assert budget(shop) == cents
    page = client.get(response["Location"]).content.decode()
    assert f"Monthly budget set to {shown}." in html.unescape(page)


def test_an_empty_amount_removes_the_budget(shop: Shop) -> None:
    client = signed_in(shop)
    post_budget(client, shop, "150")

    response = post_budget(client, shop, "")

    assert response.status_code == 302
    assert budget(shop) is None


def test_the_largest_budget_is_accepted_and_one_cent_more_refused(shop: Shop) -> None:
    client = signed_in(shop)
    largest = f"{MAX_BUDGET_CENTS // 100}.{MAX_BUDGET_CENTS % 100:02d}"
    assert post_budget(client, shop, largest).status_code == 302
    assert budget(shop) == MAX_BUDGET_CENTS
    before = db_snapshot()

    one_more = MAX_BUDGET_CENTS + 1
    response = post_budget(client, shop, f"{one_more // 100}.{one_more % 100:02d}")

    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert "Ensure this value is less than or equal to 21474836.47." in page
    assert_unchanged(before)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("99999999999", "Ensure that there are no more than 10 digits before the decimal"),
        ("-5", "Ensure this value is greater than or equal to 0."),
        ("12.345", "Ensure that there are no more than 2 decimal places."),
        ("ten dollars", "Enter a number."),
        ("10", "at least the plan"),  # below the Business price
    ],
)
def test_a_refused_amount_is_explained_next_to_the_field(
    shop: Shop, typed: str, message: str
) -> None:
    client = signed_in(shop)
    post_budget(client, shop, "150")
    before = db_snapshot()

    response = post_budget(client, shop, typed)

    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert message.lower() in page.lower(), page
    assert f'value="{typed}"' in page  # what was typed stays in the field
    assert_unchanged(before)
