"""The monthly budget's effect on messages (product.md §5, §6): a message whose overage would
take the bill over the budget is refused with 429 `budget_reached` and a Retry-After to the
end of the period, is neither stored nor counted, and the bill never exceeds the budget,
also when many channels post at once. A Community workspace at its limit answers
`message_limit_reached` instead.

The Business workspaces here include 10 messages (custom_message_limit, set as staff would),
so that the overage starts after a few messages: 0.5 ¢ each, $5.00 per 1,000.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from botyard.core import clock
from botyard.messaging.models import DailyBotStats, Message
from botyard.workspaces.roles import Role
from tests.billing.world import PERIOD_END, Shop, body, race
from tests.helpers import ApiClient, assert_problem
from tests.workspaces.world import assert_unchanged, db_snapshot

pytestmark = pytest.mark.usefixtures("t0")

PRICE = 8_900
INCLUDED = 10


def business(api_client: ApiClient, *, budget: int | None) -> Shop:
    shop = Shop(Role.OWNER, plan="business")
    shop.set_terms(custom_message_limit=INCLUDED)
    response = api_client.put(
        shop.billing_url("/budget"), {"amount": budget}, token=shop.owner.token
    )
    assert response.status_code == 200, response.content
    return shop


def bill(api_client: ApiClient, shop: Shop) -> int:
    response = api_client.get(shop.billing_url(), token=shop.owner.token)
    amount: int = body(response)["current_bill"]["amount"]
    return amount


def seconds_to_period_end() -> int:
    return int((PERIOD_END - clock.now()).total_seconds())


def send_until_refused(shop: Shop, client: Client, *, most: int = 100) -> tuple[int, Any]:
    """Post messages until one is refused: how many were accepted, and the refusal."""
    start = shop.used()
    for accepted in range(most):
        response = shop.post_message(client)
        if response.status_code != 200:
            return accepted, response
        assert body(response)["usage"]["used"] == start + accepted + 1
    raise AssertionError(f"{most} messages and none refused")


@pytest.mark.django_db
def test_the_message_that_would_exceed_the_budget_is_refused_until_the_period_ends(
    api_client: ApiClient,
) -> None:
    # Room for 5 ¢ of overage: exactly 10 messages beyond the 10 included.
    shop = business(api_client, budget=PRICE + 5)
    clock.advance(dt.timedelta(days=5, hours=2, seconds=17))

    for n in range(1, INCLUDED + 10 + 1):
        response = shop.post_message(api_client.django)
        assert response.status_code == 200, (n, response.content)
        assert body(response)["usage"] == {"used": n, "limit": INCLUDED}
    before = db_snapshot()

    refused = shop.post_message(api_client.django)

    problem = assert_problem(refused, 429, "budget_reached")
    assert "budget" in problem["detail"]
    assert refused["Retry-After"] == str(seconds_to_period_end())
    assert_unchanged(before)  # not stored, not counted, no conversation, no analytics
    assert shop.used() == 20
    assert Message.objects.filter(bot_id=shop.bot.id).count() == 20
    assert DailyBotStats.objects.get(bot_id=shop.bot.id).messages == 20
    assert bill(api_client, shop) == PRICE + 5  # the budget, to the cent

    # Nothing changes until the period renews; then the bot answers again.
    clock.advance(dt.timedelta(days=10))
    assert_problem(shop.post_message(api_client.django), 429, "budget_reached")
    clock.advance(dt.timedelta(seconds=seconds_to_period_end()))
    again = shop.post_message(api_client.django)
    assert again.status_code == 200
    assert body(again)["usage"] == {"used": 1, "limit": INCLUDED}


@pytest.mark.django_db
@pytest.mark.parametrize("room", [0, 1, 2, 3, 7])
def test_the_bill_stops_exactly_at_the_budget(api_client: ApiClient, room: int) -> None:
    shop = business(api_client, budget=PRICE + room)

    accepted, refused = send_until_refused(shop, api_client.django)

    assert_problem(refused, 429, "budget_reached")
    assert accepted == INCLUDED + 2 * room  # 0.5 ¢ a message
    assert bill(api_client, shop) == PRICE + room


@pytest.mark.django_db
def test_raising_the_budget_lets_the_bot_answer_again(api_client: ApiClient) -> None:
    shop = business(api_client, budget=PRICE)  # the price: no overage at all
    accepted, refused = send_until_refused(shop, api_client.django)
    assert (accepted, refused.status_code) == (INCLUDED, 429)

    api_client.put(shop.billing_url("/budget"), {"amount": PRICE + 1}, token=shop.owner.token)
    more, _ = send_until_refused(shop, api_client.django)
    assert more == 2
    assert bill(api_client, shop) == PRICE + 1

    api_client.put(shop.billing_url("/budget"), {"amount": None}, token=shop.owner.token)
    for _ in range(5):  # no budget: no cap on a Business workspace
        assert shop.post_message(api_client.django).status_code == 200
    assert shop.used() == INCLUDED + 2 + 5


@pytest.mark.django_db
def test_a_budget_lowered_below_the_bill_so_far_refuses_every_further_message(
    api_client: ApiClient,
) -> None:
    shop = business(api_client, budget=None)
    shop.set_used(INCLUDED + 40)  # 20 ¢ of overage so far
    api_client.put(shop.billing_url("/budget"), {"amount": PRICE + 10}, token=shop.owner.token)

    assert_problem(shop.post_message(api_client.django), 429, "budget_reached")
    assert shop.used() == INCLUDED + 40


@pytest.mark.django_db(transaction=True)
def test_the_bill_never_exceeds_the_budget_under_concurrency(api_client: ApiClient) -> None:
    shop = business(api_client, budget=PRICE + 5)  # 10 included + 10 overage messages
    shop.channel_key  # published and keyed before the race

    def three_messages(i: int) -> list[tuple[int, str | None, int | None]]:
        client = Client()
        answers = []
        for _ in range(3):
            response = shop.post_message(client)
            content = body(response)
            if response.status_code == 200:
                answers.append((200, None, content["usage"]["used"]))
            else:
                answers.append((response.status_code, content.get("code"), None))
                assert response["Retry-After"] == str(seconds_to_period_end())
        return answers

    results, failures = race(16, three_messages)

    assert failures == []
    answers = [answer for result in results for answer in result]
    accepted = sorted(used for status, _, used in answers if status == 200)
    refused = [(status, code) for status, code, _ in answers if status != 200]
    assert accepted == list(range(1, 21))  # each count handed out once
    assert refused == [(429, "budget_reached")] * 28
    assert shop.used() == 20
    assert Message.objects.filter(bot_id=shop.bot.id).count() == 20
    assert bill(api_client, shop) == PRICE + 5


@pytest.mark.django_db
def test_a_community_workspace_at_its_limit_answers_message_limit_reached(
    api_client: ApiClient,
) -> None:
    shop = Shop(Role.OWNER)
    shop.set_used(1_999)
    clock.advance(dt.timedelta(days=20))

    last = shop.post_message(api_client.django)
    assert last.status_code == 200
    assert body(last)["usage"] == {"used": 2_000, "limit": 2_000}
    before = db_snapshot()

    refused = shop.post_message(api_client.django)

    problem = assert_problem(refused, 429, "message_limit_reached")
    assert "messages its plan includes" in problem["detail"]
    assert refused["Retry-After"] == str(seconds_to_period_end())
    assert_unchanged(before)
    assert bill(api_client, shop) == 0


@pytest.mark.django_db
def test_upgrading_a_community_workspace_at_its_limit_lets_the_bot_answer_at_once(
    api_client: ApiClient,
) -> None:
    shop = Shop(Role.OWNER)
    shop.set_used(2_000)
    assert_problem(shop.post_message(api_client.django), 429, "message_limit_reached")
    clock.advance(dt.timedelta(days=3))
    api_client.put(
        shop.billing_url("/payment-method"), {"token": "pm_card_visa"}, token=shop.owner.token
    )
    api_client.put(shop.billing_url("/plan"), {"plan": "business"}, token=shop.owner.token)

    answer = shop.post_message(api_client.django)

    assert answer.status_code == 200, answer.content
    assert body(answer)["usage"] == {"used": 1, "limit": 25_000}  # a new period
