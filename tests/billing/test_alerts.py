"""Usage alerts (product.md §6): one email per period when 75 % and when 100 % of the included
messages, or of the monthly budget, is reached, to the owner and the billing collaborators
(billing manager, manager, administrator; not developers or viewers). Never twice in a
period, however many messages follow and however many arrive at once; a new period alerts
again.

The alert is queued when the transaction that counted the message commits; the tasks run
immediately here (the `immediate_tasks` fixture), so the email is in mail.outbox as soon as
the request's callbacks have run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from botyard.core import clock
from botyard.workspaces.roles import Role
from tests.billing.world import PERIOD_END, Shop, body, race
from tests.helpers import ApiClient, assert_problem

pytestmark = pytest.mark.usefixtures("t0", "immediate_tasks")

BASE_URL = "https://botyard.example.org"
Capture = Callable[..., Any]


def team(*, plan: str, included: int | None = None) -> tuple[Shop, list[str]]:
    """A workspace with one collaborator of every role; the emails alerts go to."""
    shop = Shop(Role.OWNER, plan=plan)
    alerted = [shop.owner.email]
    for role in (Role.BILLING_MANAGER, Role.MANAGER, Role.ADMINISTRATOR):
        alerted.append(shop.add(role, email=f"{role.value}@acme.example").email)
    for role in (Role.DEVELOPER, Role.VIEWER):
        shop.add(role, email=f"{role.value}@acme.example")
    if included is not None:
        shop.set_terms(custom_message_limit=included)
    mail.outbox.clear()  # the invitations of the setup
    return shop, sorted(alerted)


def sent() -> list[tuple[str, list[str]]]:
    return [(message.subject, message.to) for message in mail.outbox]


@pytest.fixture
def deliver(django_capture_on_commit_callbacks: Capture, settings: Any) -> Callable[[], Any]:
    """`with deliver():` runs what the requests inside queued for after their commit."""
    settings.BASE_URL = BASE_URL

    @contextmanager
    def delivering() -> Iterator[None]:
        with django_capture_on_commit_callbacks(execute=True):
            yield

    return delivering


def post(shop: Shop, client: ApiClient, count: int = 1) -> None:
    for _ in range(count):
        response = shop.post_message(client.django)
        assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_one_email_at_75_and_one_at_100_percent_of_the_included_messages(
    api_client: ApiClient, deliver: Callable[[], Any]
) -> None:
    shop, recipients = team(plan="business", included=100)
    shop.set_used(73)

    with deliver():
        post(shop, api_client)  # 74
    assert sent() == []

    with deliver():
        post(shop, api_client)  # 75: 75 %
    assert sent() == [("Acme has used 75% of its included messages", recipients)]
    [warning] = mail.outbox
    assert 'The workspace "Acme" has used 75% of its included messages' in warning.body
    assert f"{BASE_URL}/w/{shop.id}/billing" in warning.body

    with deliver():
        post(shop, api_client, 5)  # 76 to 80: past the threshold, no second email
    shop.set_used(98)
    with deliver():
        post(shop, api_client)  # 99
    assert len(mail.outbox) == 1

    with deliver():
        post(shop, api_client)  # 100: 100 %
        post(shop, api_client, 5)  # overage on Business: accepted, and no more emails
    assert sent() == [
        ("Acme has used 75% of its included messages", recipients),
        ("Acme has used 100% of its included messages", recipients),
    ]
    assert shop.used() == 105


@pytest.mark.django_db
def test_one_email_at_75_and_one_at_100_percent_of_the_budget(
    api_client: ApiClient, deliver: Callable[[], Any]
) -> None:
    # $89.00 plan, $120.00 budget, 100 messages included: the bill reaches 75 % ($90.00)
    # with 199 overage messages (99.5 ¢, rounded half up to $1.00), and 100 % ($120.00)
    # with 6,199 (3,099.5 ¢ → $31.00); the budget refuses the message after the 6,200th.
    shop, recipients = team(plan="business", included=100)
    api_client.put(shop.billing_url("/budget"), {"amount": 12_000}, token=shop.owner.token)
    shop.set_used(74)
    with deliver():
        post(shop, api_client)  # 75 messages
        shop.set_used(99)
        post(shop, api_client)  # 100 messages
    mail.outbox.clear()

    shop.set_used(297)
    with deliver():
        post(shop, api_client)  # 298: $89.99
    assert sent() == []
    with deliver():
        post(shop, api_client)  # 299: $90.00
        post(shop, api_client, 3)
    assert sent() == [("Acme has used 75% of its monthly budget", recipients)]
    assert "Messages that would take the bill over the budget are refused." in mail.outbox[0].body

    shop.set_used(6_297)
    with deliver():
        post(shop, api_client)  # 6,298: $119.99
    assert len(mail.outbox) == 1
    with deliver():
        post(shop, api_client)  # 6,299: $120.00 (rounded)
        post(shop, api_client)  # 6,300: $120.00 exactly, the last one the budget allows
        refused = shop.post_message(api_client.django)
    assert_problem(refused, 429, "budget_reached")
    assert sent() == [
        ("Acme has used 75% of its monthly budget", recipients),
        ("Acme has used 100% of its monthly budget", recipients),
    ]


@pytest.mark.django_db
def test_a_community_workspace_is_alerted_at_1500_and_at_2000_messages(
    api_client: ApiClient, deliver: Callable[[], Any]
) -> None:
    shop, recipients = team(plan="community")
    shop.set_used(1_498)

    with deliver():
        post(shop, api_client)  # 1,499
        assert sent() == []
        post(shop, api_client)  # 1,500
        shop.set_used(1_999)
        post(shop, api_client)  # 2,000: the hard limit
        refused = shop.post_message(api_client.django)

    assert_problem(refused, 429, "message_limit_reached")
    assert sent() == [
        ("Acme has used 75% of its included messages", recipients),
        ("Acme has used 100% of its included messages", recipients),
    ]
    assert "Bots stop answering when the limit is reached" in mail.outbox[1].body
    # No budget, no budget alerts: a Community workspace has none.
    assert all("budget" not in subject for subject, _ in sent())


@pytest.mark.django_db
def test_a_new_period_alerts_again(api_client: ApiClient, deliver: Callable[[], Any]) -> None:
    shop, recipients = team(plan="business", included=100)
    shop.set_used(74)
    with deliver():
        post(shop, api_client)
    clock.advance(PERIOD_END - clock.now() + dt.timedelta(hours=1))  # the second period
    shop.set_used(74)

    with deliver():
        post(shop, api_client)
        post(shop, api_client)

    subject = "Acme has used 75% of its included messages"
    assert sent() == [(subject, recipients), (subject, recipients)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_messages_across_the_thresholds_send_each_email_once(
    api_client: ApiClient, settings: Any
) -> None:
    settings.BASE_URL = BASE_URL
    shop, recipients = team(plan="business", included=10)
    shop.channel_key  # published and keyed before the race

    def three_messages(i: int) -> list[int]:
        client = Client()
        return [shop.post_message(client).status_code for _ in range(3)]

    results, failures = race(8, three_messages)

    assert failures == []
    assert sorted(status for result in results for status in result) == [200] * 24
    assert shop.used() == 24
    assert sorted(sent()) == [
        ("Acme has used 100% of its included messages", recipients),
        ("Acme has used 75% of its included messages", recipients),
    ]
    assert body(api_client.get(shop.billing_url(), token=shop.owner.token))["messages"] == {
        "used": 24,
        "limit": 10,
        "status": "limit_reached",
    }
