"""A sender (key, bot, workspace) the process has read is not read again for its next
message: the write checks, in the same statement, that it is unchanged (ADR 0008). These
tests change each thing the rules depend on between two messages and check that the
second message sees the change, and that a refusal on that path is the same refusal,
in the same order, with nothing stored or counted."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client

from botyard.billing.usage import included_messages
from botyard.bots import services as bot_services
from botyard.bots.models import BotKey
from botyard.bots.services import key_digest
from botyard.messaging import services as message_services
from botyard.messaging import statements
from botyard.messaging.models import Conversation, Message, UsageCounter
from botyard.workspaces.models import Workspace
from tests.helpers import assert_problem
from tests.messaging.world import HOURS_REPLY, Channel, definition, make_channel, post_message

pytestmark = pytest.mark.django_db

HELLO = {"user_id": "end-user-1", "text": "when are you open"}


@pytest.fixture(autouse=True)
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The digests statements.sender is asked for, from a process that knows no sender."""
    message_services._KNOWN_SENDERS.clear()
    asked: list[str] = []
    real = statements.sender

    def counted(digest: str, idempotency_key: str | None) -> Any:
        asked.append(digest)
        return real(digest, idempotency_key)

    monkeypatch.setattr(statements, "sender", counted)
    return asked


@pytest.fixture
def channel(client: Client, lookups: list[str]) -> Channel:
    """A channel whose sender this process already knows (one message sent)."""
    channel = make_channel()
    assert post_message(client, channel.bot.id, channel.key, HELLO).status_code == 200
    assert key_digest(channel.key) in message_services._KNOWN_SENDERS
    lookups.clear()
    return channel


def _send(client: Client, channel: Channel, body: Any = HELLO, **extra: Any) -> Any:
    return post_message(client, channel.bot.id, channel.key, body, **extra)


def test_a_revoked_key_is_refused_though_the_process_knew_it(
    client: Client, channel: Channel
) -> None:
    key = BotKey.objects.get(bot=channel.bot)
    bot_services.bot_key_revoke(
        actor=channel.actor, workspace_id=channel.workspace.id, bot_id=channel.bot.id,
        key_id=key.id,
    )  # fmt: skip
    assert_problem(_send(client, channel), 401, "invalid_bot_key")
    assert (channel.stored(), channel.used()) == (1, 1)
    assert key_digest(channel.key) not in message_services._KNOWN_SENDERS


def test_a_known_sender_is_not_looked_up_again(
    client: Client, channel: Channel, lookups: list[str]
) -> None:
    for _ in range(3):
        assert _send(client, channel).status_code == 200
    assert lookups == []
    assert (channel.stored(), channel.used()) == (4, 4)


def test_a_changed_sender_is_looked_up_once_and_known_again(
    client: Client, channel: Channel, lookups: list[str]
) -> None:
    channel.set_message_limit(100)
    assert _send(client, channel).json()["usage"] == {"used": 2, "limit": 100}
    assert _send(client, channel).status_code == 200
    assert lookups == [key_digest(channel.key)]


def test_a_revoked_key_is_a_401_before_an_invalid_body(client: Client, channel: Channel) -> None:
    BotKey.objects.filter(bot=channel.bot).delete()
    assert_problem(_send(client, channel, {"user_id": "u", "text": ""}), 401, "invalid_bot_key")


def test_an_invalid_body_of_a_known_sender_is_a_400(client: Client, channel: Channel) -> None:
    response = _send(client, channel, {"user_id": "u", "text": ""})
    assert_problem(response, 400, "validation_error")
    assert (channel.stored(), channel.used()) == (1, 1)


def test_a_new_published_version_answers_the_next_message(client: Client, channel: Channel) -> None:
    bot_services.bot_update(
        actor=channel.actor, workspace_id=channel.workspace.id, bot_id=channel.bot.id,
        definition=definition(hours_reply="Open all night."),
    )  # fmt: skip
    assert _send(client, channel).json()["reply"]["text"] == HOURS_REPLY  # not published yet
    bot_services.bot_publish(
        actor=channel.actor, workspace_id=channel.workspace.id, bot_id=channel.bot.id
    )
    answer = _send(client, channel).json()
    assert answer["reply"]["text"] == "Open all night."
    assert Message.objects.get(id=answer["message_id"]).bot_version == 2


def test_a_lower_message_limit_applies_to_the_next_message(
    client: Client, channel: Channel
) -> None:
    channel.set_message_limit(1)
    assert_problem(_send(client, channel), 429, "message_limit_reached")
    assert (channel.stored(), channel.used()) == (1, 1)
    channel.set_message_limit(5)
    assert _send(client, channel).json()["usage"] == {"used": 2, "limit": 5}


def test_a_plan_and_budget_changed_after_the_sender_was_read_cap_the_next_message(
    client: Client, channel: Channel
) -> None:
    Workspace.objects.filter(pk=channel.workspace.pk).update(plan="business")
    workspace = Workspace.objects.get(pk=channel.workspace.pk)
    channel.set_used(included_messages(workspace))  # all included messages used
    assert _send(client, channel).status_code == 200  # an overage message: no budget set
    Workspace.objects.filter(pk=channel.workspace.pk).update(budget_cents=0)
    used = channel.used()
    assert_problem(_send(client, channel), 429, "budget_reached")
    assert channel.used() == used


def test_a_missing_conversation_is_a_404_and_not_counted(client: Client, channel: Channel) -> None:
    response = _send(client, channel, {**HELLO, "conversation_id": "conv_nothing"})
    assert_problem(response, 404, "conversation_not_found")
    assert (channel.stored(), channel.used()) == (1, 1)
    assert Conversation.objects.filter(bot=channel.bot).count() == 1


def test_a_full_workspace_is_a_429_before_a_missing_conversation(
    client: Client, channel: Channel
) -> None:
    channel.set_message_limit(1)
    response = _send(client, channel, {**HELLO, "conversation_id": "conv_nothing"})
    assert_problem(response, 429, "message_limit_reached")


def test_a_retry_is_replayed_by_a_known_sender_also_when_the_workspace_is_full(
    client: Client, channel: Channel
) -> None:
    first = _send(client, channel, idempotency_key="once")
    assert first.status_code == 200
    channel.set_message_limit(2)  # full now
    again = _send(client, channel, idempotency_key="once")
    assert again.status_code == 200 and again.content == first.content
    assert_problem(
        _send(client, channel, {**HELLO, "text": "other"}, idempotency_key="once"),
        409, "idempotency_key_reused",
    )  # fmt: skip
    assert (channel.stored(), channel.used()) == (2, 2)


def test_a_key_of_another_bot_is_refused(client: Client, channel: Channel) -> None:
    other = make_channel()
    response = post_message(client, other.bot.id, channel.key, HELLO)
    assert_problem(response, 401, "invalid_bot_key")
    assert other.stored() == 0


def test_a_deleted_bot_is_refused(client: Client, channel: Channel) -> None:
    bot_services.bot_delete(
        actor=channel.actor, workspace_id=channel.workspace.id, bot_id=channel.bot.id
    )
    assert_problem(_send(client, channel), 401, "invalid_bot_key")


def _drop_the_connection_after_the_first_write(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The next write commits, then its answer is lost with the connection; the write
    statements sent, as they are sent."""
    real = statements._store_and_count_row
    calls: list[str] = []

    def committed_then_dropped(sql: str, params: list[Any]) -> Any:
        calls.append(sql)
        row = real(sql, params)
        if len(calls) == 1:
            connection.connection.close()
            raise OperationalError("server closed the connection unexpectedly")
        return row

    monkeypatch.setattr(statements, "_store_and_count_row", committed_then_dropped)
    return calls


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a connection the server drops")
@pytest.mark.django_db(transaction=True)
def test_a_write_sent_again_after_it_committed_is_stored_and_counted_once(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection drops after the statement committed but before its answer came
    back; the write is sent again on a new connection and finds its message stored."""
    channel = make_channel()
    assert _send(client, channel).status_code == 200
    calls = _drop_the_connection_after_the_first_write(monkeypatch)
    answer = _send(client, channel)
    assert answer.status_code == 200, answer.content
    assert len(calls) == 2
    stored = Message.objects.get(id=answer.json()["message_id"])
    assert stored.response == answer.json()
    assert (channel.stored(), channel.used()) == (2, 2)
    assert UsageCounter.objects.get(workspace=channel.workspace).messages == 2


def test_an_alert_that_cannot_be_claimed_leaves_the_message_answered_and_the_next_claims_it(
    client: Client, channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel.set_message_limit(4)  # the 75 % alert is due at the third message
    real = message_services.note_usage

    def failing(**kwargs: Any) -> None:
        raise OperationalError("database is locked")

    monkeypatch.setattr(message_services, "note_usage", failing)
    assert _send(client, channel).status_code == 200
    assert _send(client, channel).json()["usage"] == {"used": 3, "limit": 4}
    counter = UsageCounter.objects.get(workspace=channel.workspace)
    assert not counter.alerted_messages_75
    monkeypatch.setattr(message_services, "note_usage", real)
    assert _send(client, channel).json()["usage"] == {"used": 4, "limit": 4}
    counter.refresh_from_db()
    assert counter.alerted_messages_75 and counter.alerted_messages_100


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a connection the server drops")
@pytest.mark.django_db(transaction=True)
def test_a_write_sent_again_at_the_cap_it_reached_itself_answers_the_stored_message(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt took the last message of the period and committed, its answer
    lost with the connection; the second finds the counter full, and the message stored."""
    channel = make_channel(message_limit=2)
    assert _send(client, channel).status_code == 200
    calls = _drop_the_connection_after_the_first_write(monkeypatch)
    answer = _send(client, channel)
    assert answer.status_code == 200, answer.content
    assert answer.json()["usage"] == {"used": 2, "limit": 2}
    assert len(calls) == 2
    assert (channel.stored(), channel.used()) == (2, 2)


@pytest.mark.django_db(transaction=True)
def test_outside_any_transaction_a_missing_conversation_leaves_nothing_and_the_next_message_counts(
    client: Client,
) -> None:
    """The message path's own transaction (not a savepoint in a test's): the refusal is
    undone, and the connection is left ready for the next message."""
    channel = make_channel()
    first = _send(client, channel).json()
    assert not connection.in_atomic_block
    response = _send(client, channel, {**HELLO, "conversation_id": "conv_nothing"})
    assert_problem(response, 404, "conversation_not_found")
    assert (channel.stored(), channel.used()) == (1, 1)
    assert Conversation.objects.filter(bot=channel.bot).count() == 1
    again = _send(client, channel, {**HELLO, "conversation_id": first["conversation_id"]})
    assert again.json()["usage"]["used"] == 2
    assert (channel.stored(), channel.used()) == (2, 2)


@pytest.mark.django_db(transaction=True)
def test_outside_any_transaction_a_retry_is_replayed_and_not_counted(client: Client) -> None:
    channel = make_channel()
    first = _send(client, channel, idempotency_key="once")
    again = _send(client, channel, idempotency_key="once")  # the unique index refuses it
    assert again.status_code == 200 and again.content == first.content
    assert (channel.stored(), channel.used()) == (1, 1)
    assert _send(client, channel).json()["usage"]["used"] == 2


@pytest.mark.django_db(transaction=True)
def test_outside_any_transaction_an_error_midway_leaves_nothing_and_the_next_message_counts(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = make_channel()
    assert _send(client, channel).status_code == 200

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    for step in ("insert_message", "_store_and_count_row"):
        if hasattr(statements, step):
            monkeypatch.setattr(statements, step, broken)
    assert _send(client, channel).status_code == 500  # as a problem document
    monkeypatch.undo()
    assert (channel.stored(), channel.used()) == (1, 1)
    assert Conversation.objects.filter(bot=channel.bot).count() == 1
    assert not connection.in_atomic_block
    assert _send(client, channel).json()["usage"]["used"] == 2
    assert (channel.stored(), channel.used()) == (2, 2)


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2026, 5, 5, 12, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 5, 5, 12, 0, 0, 123456, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 1, 0, 30, 1, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        dt.datetime(2026, 5, 5, 12, 0, 0, 1),  # naive
    ],
)
def test_datetimes_are_written_as_djangos_adapter_writes_them(value: dt.datetime) -> None:
    """The sender check compares stored datetimes for equality."""
    assert statements.db_datetime(value) == connection.ops.adapt_datetimefield_value(value)
    day = value.date()
    assert statements.db_date(day) == connection.ops.adapt_datefield_value(day)
