"""Every accepted message is counted exactly once under concurrency (product.md §5).

Real threads, each with its own database connection, released at once by a barrier and
posting through the whole HTTP stack; committed transactions, so on PostgreSQL the row
locks decide and on SQLite the write lock does."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from botyard.messaging.models import Conversation, DailyBotStats, Message
from tests.messaging.world import Channel, make_channel, post_message

pytestmark = pytest.mark.django_db(transaction=True)

JOIN_TIMEOUT = 120


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    raw: bytes
    retry_after: str | None
    idempotency_key: str | None = None


def _race(threads: int, work: Callable[[int, Client], list[Answer]]) -> list[Answer]:
    """Run `work(i, client)` in `threads` threads released together; all their answers."""
    barrier = threading.Barrier(threads)
    answers: list[Answer] = []
    failures: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            client = Client()
            barrier.wait(timeout=JOIN_TIMEOUT)
            mine = work(i, client)
            with lock:
                answers.extend(mine)
        except Exception as error:  # reported, so the assertion shows what went wrong
            with lock:
                failures.append(f"thread {i}: {type(error).__name__}: {error}")
        finally:
            connection.close()

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in pool), "a sender hung"
    assert not failures, failures
    return answers


def _send(client: Client, channel: Channel, text: str, idempotency_key: str | None = None
          ) -> Answer:  # fmt: skip
    response = post_message(
        client, channel.bot.id, channel.key, {"user_id": "end-user", "text": text},
        idempotency_key=idempotency_key,
    )  # fmt: skip
    return Answer(
        status=response.status_code,
        body=json.loads(response.content),
        raw=response.content,
        retry_after=response.get("Retry-After"),
        idempotency_key=idempotency_key,
    )


def _codes(answers: list[Answer]) -> Counter[object]:
    return Counter(a.status if a.status == 200 else a.body.get("code") for a in answers)


def test_concurrent_senders_get_exactly_the_messages_left() -> None:
    limit, used, threads, per_thread = 30, 10, 16, 4
    channel = make_channel(message_limit=limit)
    channel.set_used(used)

    answers = _race(
        threads,
        lambda i, client: [_send(client, channel, f"t{i} m{n}") for n in range(per_thread)],
    )

    room = limit - used
    assert len(answers) == threads * per_thread
    assert _codes(answers) == {200: room, "message_limit_reached": threads * per_thread - room}
    accepted = [a.body for a in answers if a.status == 200]
    refused = [a for a in answers if a.status != 200]
    assert {a.status for a in refused} == {429}
    assert all(a.retry_after is not None and int(a.retry_after) >= 1 for a in refused)
    # Each acceptance saw its own count: the increments were serialised, none lost.
    assert sorted(body["usage"]["used"] for body in accepted) == list(range(used + 1, limit + 1))
    assert {body["usage"]["limit"] for body in accepted} == {limit}
    acknowledged = {body["message_id"] for body in accepted}
    assert len(acknowledged) == room
    period = channel.period()
    stored = Message.objects.filter(workspace=channel.workspace, period_start=period.start)
    assert set(stored.values_list("id", flat=True)) == acknowledged
    assert channel.used() == limit
    assert Conversation.objects.filter(bot=channel.bot).count() == room
    daily = DailyBotStats.objects.filter(bot=channel.bot).values_list("messages", flat=True)
    assert sum(daily) == room


def test_concurrent_senders_below_the_limit_are_all_counted() -> None:
    threads, per_thread = 12, 5
    channel = make_channel()

    answers = _race(
        threads,
        lambda i, client: [_send(client, channel, f"t{i} m{n}") for n in range(per_thread)],
    )

    total = threads * per_thread
    assert _codes(answers) == {200: total}
    assert sorted(a.body["usage"]["used"] for a in answers) == list(range(1, total + 1))
    assert channel.stored() == channel.used() == total


def test_concurrent_retries_of_one_key_store_and_count_it_once() -> None:
    threads = 8
    channel = make_channel()
    channel.set_used(5)

    answers = _race(threads, lambda i, client: [_send(client, channel, "hours", "delivery-1")])

    assert _codes(answers) == {200: threads}
    assert len({a.raw for a in answers}) == 1, [a.body for a in answers]
    body = answers[0].body
    assert body["usage"] == {"used": 6, "limit": 2000}
    assert list(Message.objects.values_list("id", flat=True)) == [body["message_id"]]
    assert channel.used() == 6
    assert Conversation.objects.count() == 1
    assert DailyBotStats.objects.get(bot=channel.bot).messages == 1


def test_concurrent_retries_for_the_last_message_left_all_get_its_answer() -> None:
    """Deliveries of one message racing for the last slot: one stores it, and the others
    must answer its body, not be refused for the slot their own message took."""
    threads = 8
    channel = make_channel(message_limit=5)
    channel.set_used(4)

    answers = _race(threads, lambda i, client: [_send(client, channel, "hours", "last-one")])

    assert _codes(answers) == {200: threads}, [a.body for a in answers]
    assert len({a.raw for a in answers}) == 1
    assert answers[0].body["usage"] == {"used": 5, "limit": 5}
    assert channel.stored() == 1
    assert channel.used() == 5


def test_concurrent_retries_of_many_keys_past_the_limit() -> None:
    """8 threads deliver the same 8 messages, each in its own order, with 5 slots left:
    exactly 5 messages are stored and counted, and every message is answered the same way
    by every delivery, all 200 with one body or all 429."""
    threads, keys, room = 8, 8, 5
    channel = make_channel(message_limit=10)
    channel.set_used(10 - room)

    def deliver(i: int, client: Client) -> list[Answer]:
        order = list(range(keys))
        random.Random(i).shuffle(order)
        return [_send(client, channel, f"message {k}", f"key-{k}") for k in order]

    answers = _race(threads, deliver)

    by_key: dict[str | None, list[Answer]] = {}
    for answer in answers:
        by_key.setdefault(answer.idempotency_key, []).append(answer)
    assert sorted(len(deliveries) for deliveries in by_key.values()) == [threads] * keys
    stored_keys = set()
    for key, deliveries in by_key.items():
        outcomes = _codes(deliveries)
        assert outcomes in ({200: threads}, {"message_limit_reached": threads}), (key, outcomes)
        if 200 in outcomes:
            assert len({a.raw for a in deliveries}) == 1, key
            message = Message.objects.get(id=deliveries[0].body["message_id"])
            assert message.idempotency_key == key
            stored_keys.add(key)
    assert len(stored_keys) == room
    assert set(Message.objects.values_list("idempotency_key", flat=True)) == stored_keys
    assert channel.used() == 10
