"""POST /api/v1/bots/{bot}/messages (api.md "Messages") and the per-day analytics.

Every refusal is checked for what did not change as well: no Message row, no count."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from botyard.bots import services as bot_services
from botyard.bots.models import BotKey
from botyard.core import clock
from botyard.messaging import services as message_services
from botyard.messaging.models import Conversation, DailyBotStats, Message, UsageCounter
from tests import factories
from tests.helpers import ApiClient, assert_problem
from tests.messaging.world import (
    FALLBACK,
    HOURS_REPLY,
    PRICE_REPLY,
    UTC,
    Channel,
    definition,
    make_channel,
    post_message,
)

pytestmark = pytest.mark.django_db

RESPONSE_KEYS = {"message_id", "conversation_id", "reply", "usage"}


@pytest.fixture
def channel() -> Channel:
    return make_channel()


def send(client: Client, channel: Channel, text: str = "hello", **fields: Any) -> Any:
    idempotency_key = fields.pop("idempotency_key", None)
    body = {"user_id": "end-user-42", "text": text, **fields}
    return post_message(client, channel.bot.id, channel.key, body, idempotency_key=idempotency_key)


def accepted(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    body: dict[str, Any] = json.loads(response.content)
    assert set(body) == RESPONSE_KEYS
    return body


# --- the answer ------------------------------------------------------------------------


def test_a_message_is_answered_stored_and_counted(client: Client, channel: Channel) -> None:
    body = accepted(send(client, channel, "What are your opening hours?"))

    assert body == {
        "message_id": body["message_id"],
        "conversation_id": body["conversation_id"],
        "reply": {"text": HOURS_REPLY},
        "usage": {"used": 1, "limit": 2000},
    }
    assert body["message_id"].startswith("msg_")
    message = Message.objects.get(id=body["message_id"])
    assert message.bot_id == channel.bot.id
    assert message.workspace_id == channel.workspace.id
    assert message.conversation_id == body["conversation_id"]
    assert message.end_user_id == "end-user-42"
    assert message.text == "What are your opening hours?"
    assert message.reply == HOURS_REPLY
    assert message.bot_version == 1
    assert message.period_start == channel.period().start
    conversation = Conversation.objects.get(id=body["conversation_id"])
    assert (conversation.bot_id, conversation.end_user_id) == (channel.bot.id, "end-user-42")
    counter = UsageCounter.objects.get(workspace=channel.workspace)
    assert (counter.period_start, counter.period_end) == (
        channel.period().start,
        channel.period().end,
    )
    assert counter.messages == 1


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("when are you open", HOURS_REPLY),
        ("HOW MUCH does it cost, please?", PRICE_REPLY),
        ("hours", HOURS_REPLY),  # half of "opening hours": at the threshold
        ("tell me a joke", FALLBACK),
        ("open", FALLBACK),  # a quarter of "when are you open": below it
    ],
)
def test_the_reply_is_the_best_intent_or_the_fallback(
    client: Client, channel: Channel, text: str, reply: str
) -> None:
    assert accepted(send(client, channel, text))["reply"] == {"text": reply}


def test_the_usage_counts_up_across_bots_of_the_workspace(client: Client, channel: Channel) -> None:
    other = channel.add_bot()

    assert accepted(send(client, channel))["usage"] == {"used": 1, "limit": 2000}
    assert accepted(send(client, other))["usage"] == {"used": 2, "limit": 2000}
    assert accepted(send(client, channel))["usage"] == {"used": 3, "limit": 2000}
    assert channel.used() == 3
    assert Message.objects.filter(workspace=channel.workspace).count() == 3


def test_a_second_message_with_the_conversation_id_joins_the_conversation(
    client: Client, channel: Channel
) -> None:
    first = accepted(send(client, channel, "hello"))
    second = accepted(send(client, channel, "hours", conversation_id=first["conversation_id"]))
    third = accepted(send(client, channel, "hello again"))

    assert second["conversation_id"] == first["conversation_id"]
    assert third["conversation_id"] != first["conversation_id"]
    joined = Message.objects.filter(conversation_id=first["conversation_id"])
    assert sorted(joined.values_list("id", flat=True)) == sorted(
        [first["message_id"], second["message_id"]]
    )
    assert Conversation.objects.filter(bot=channel.bot).count() == 2
    assert channel.used() == 3


@pytest.mark.parametrize("conversation_id", ["conv_doesnotexist", "x"])
def test_an_unknown_conversation_is_404_and_nothing_is_stored_or_counted(
    client: Client, channel: Channel, conversation_id: str
) -> None:
    response = send(client, channel, conversation_id=conversation_id)

    assert_problem(response, 404, "conversation_not_found")
    assert channel.stored() == 0
    assert channel.used() == 0
    assert Conversation.objects.count() == 0


def test_a_conversation_of_another_bot_is_not_found(client: Client, channel: Channel) -> None:
    other = channel.add_bot()
    theirs = accepted(send(client, other))["conversation_id"]

    response = send(client, channel, conversation_id=theirs)

    assert_problem(response, 404, "conversation_not_found")
    assert channel.stored() == 0
    assert channel.used() == 1


def test_the_key_records_when_it_was_last_used(client: Client, channel: Channel) -> None:
    assert BotKey.objects.get(bot=channel.bot).last_used_at is None
    at = dt.datetime(2026, 5, 5, 12, 0, tzinfo=UTC)
    with clock.frozen(at):
        accepted(send(client, channel))
    assert BotKey.objects.get(bot=channel.bot).last_used_at == at


def test_a_message_takes_a_fixed_number_of_statements(client: Client, channel: Channel) -> None:
    """The hot path's SQL, counted. A sender (key, bot, workspace) new to the process is
    read first, with the answer stored under the idempotency key; after that, the write
    alone: the counter (which checks the sender is unchanged), the conversation, the
    message and the day's analytics. A deferred field read by mistake, or an ORM detour,
    shows up here."""
    message_services._KNOWN_SENDERS.clear()
    with CaptureQueriesContext(connection) as first_of_period:
        accepted(send(client, channel, "hello", idempotency_key="warm-up"))  # rows exist now
    message_services._KNOWN_SENDERS.clear()  # as in a process that has not seen the key
    with CaptureQueriesContext(connection) as first_of_sender:
        accepted(send(client, channel, "hello", idempotency_key="first-of-sender"))
    with CaptureQueriesContext(connection) as captured:
        first = accepted(send(client, channel, "hours?", idempotency_key="counted-1"))
    with CaptureQueriesContext(connection) as continued:
        accepted(
            send(
                client, channel, "hours?", idempotency_key="counted-2",
                conversation_id=first["conversation_id"],
            )
        )  # fmt: skip
    with CaptureQueriesContext(connection) as without_key:
        accepted(send(client, channel, "hours?"))

    def shapes(queries: CaptureQueriesContext) -> list[str]:
        # Transaction control aside: inside the test's transaction it is savepoints.
        control = {"BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK"}
        words = (q["sql"].split(" ")[0] for q in queries.captured_queries)
        return [word for word in words if word not in control]

    def writes(queries: CaptureQueriesContext) -> list[tuple[str, str]]:
        found = []
        for query in queries.captured_queries:
            words = query["sql"].split(" ")
            if words[0] in {"INSERT", "UPDATE"}:
                table = words[2] if words[0] == "INSERT" else words[1]
                found.append((words[0], table.strip('"')))
        return found

    if connection.vendor == "postgresql":  # the check and the four steps as one statement
        assert shapes(first_of_sender) == ["SELECT", "WITH"]
        assert shapes(captured) == shapes(continued) == shapes(without_key) == ["WITH"]
        return
    # The period's and the day's first message: the counter's and the day's updates
    # find no row, so their upserts make them; then the key's first use is noted.
    assert writes(first_of_period) == [
        ("UPDATE", "messaging_usagecounter"), ("INSERT", "messaging_usagecounter"),
        ("INSERT", "messaging_conversation"), ("INSERT", "messaging_message"),
        ("UPDATE", "messaging_dailybotstats"), ("INSERT", "messaging_dailybotstats"),
        ("UPDATE", "bots_botkey"),
    ]  # fmt: skip
    # The sender, the counter, the conversation, the message, the day. The counter and
    # the day are updated, not upserted (statements._add_to_count_sql).
    assert shapes(first_of_sender) == ["SELECT", "UPDATE", "INSERT", "INSERT", "UPDATE"]
    assert shapes(captured) == ["UPDATE", "INSERT", "INSERT", "UPDATE"]
    assert shapes(continued) == ["UPDATE", "SELECT", "INSERT", "UPDATE"]
    assert shapes(without_key) == ["UPDATE", "INSERT", "INSERT", "UPDATE"]


# --- idempotency -----------------------------------------------------------------------


def test_a_retry_answers_the_identical_body_and_is_not_counted_again(
    client: Client, channel: Channel
) -> None:
    first = send(client, channel, "hours", idempotency_key="delivery-1")
    first_body = accepted(first)

    retry = send(client, channel, "hours", idempotency_key="delivery-1")

    assert retry.status_code == 200
    assert retry.content == first.content
    assert accepted(retry) == first_body
    assert channel.stored() == 1
    assert channel.used() == 1
    assert Conversation.objects.count() == 1
    assert DailyBotStats.objects.get(bot=channel.bot).messages == 1


def test_a_retry_of_a_message_in_a_conversation_is_replayed(
    client: Client, channel: Channel
) -> None:
    start = accepted(send(client, channel))
    body = {"conversation_id": start["conversation_id"], "idempotency_key": "k"}
    first = accepted(send(client, channel, "price", **body))

    assert accepted(send(client, channel, "price", **body)) == first
    assert channel.stored() == 2
    assert channel.used() == 2


def test_a_retry_replays_the_old_usage_even_after_more_messages(
    client: Client, channel: Channel
) -> None:
    first = accepted(send(client, channel, idempotency_key="k1"))
    accepted(send(client, channel))
    accepted(send(client, channel))

    assert accepted(send(client, channel, idempotency_key="k1")) == first
    assert first["usage"] == {"used": 1, "limit": 2000}
    assert channel.used() == 3


@pytest.mark.parametrize(
    "change",
    [{"text": "something else"}, {"user_id": "end-user-7"}, {"conversation_id": "conv_x"}],
)
def test_the_same_key_with_another_body_is_409(
    client: Client, channel: Channel, change: dict[str, str]
) -> None:
    original = {"user_id": "end-user-42", "text": "hello"}
    accepted(post_message(client, channel.bot.id, channel.key, original, idempotency_key="k"))

    response = post_message(
        client, channel.bot.id, channel.key, {**original, **change}, idempotency_key="k"
    )

    assert_problem(response, 409, "idempotency_key_reused")
    assert channel.stored() == 1
    assert channel.used() == 1


def test_the_same_key_on_another_bot_is_independent(client: Client, channel: Channel) -> None:
    other = channel.add_bot()
    mine = accepted(send(client, channel, "hours", idempotency_key="shared"))

    theirs = accepted(send(client, other, "hours", idempotency_key="shared"))

    assert theirs["message_id"] != mine["message_id"]
    assert theirs["conversation_id"] != mine["conversation_id"]
    assert theirs["usage"]["used"] == 2
    assert Message.objects.filter(idempotency_key="shared").count() == 2
    assert channel.used() == 2
    # Each bot then replays its own answer.
    assert accepted(send(client, channel, "hours", idempotency_key="shared")) == mine
    assert accepted(send(client, other, "hours", idempotency_key="shared")) == theirs


def test_messages_without_a_key_are_each_counted(client: Client, channel: Channel) -> None:
    one = accepted(send(client, channel, "hours"))
    two = accepted(send(client, channel, "hours"))

    assert one["message_id"] != two["message_id"]
    assert channel.stored() == 2
    assert channel.used() == 2


def test_another_key_of_the_same_bot_replays_it(client: Client, channel: Channel) -> None:
    """Idempotency is per bot, not per bot key: a channel may rotate its key mid-retry."""
    first = accepted(send(client, channel, idempotency_key="k"))
    _key, second_secret = bot_services.bot_key_create(
        actor=channel.actor, workspace_id=channel.workspace.id, bot_id=channel.bot.id, name="new"
    )

    retry = post_message(
        client,
        channel.bot.id,
        second_secret,
        {"user_id": "end-user-42", "text": "hello"},
        idempotency_key="k",
    )

    assert accepted(retry) == first
    assert channel.used() == 1


@pytest.mark.parametrize("idempotency_key", ["", "k" * 256])
def test_an_idempotency_key_of_a_bad_length_is_400(
    client: Client, channel: Channel, idempotency_key: str
) -> None:
    response = send(client, channel, idempotency_key=idempotency_key)

    assert_problem(response, 400, "validation_error")
    assert channel.stored() == 0
    assert channel.used() == 0


def test_an_idempotency_key_of_255_characters_is_accepted(client: Client, channel: Channel) -> None:
    first = accepted(send(client, channel, idempotency_key="k" * 255))
    assert accepted(send(client, channel, idempotency_key="k" * 255)) == first
    assert channel.used() == 1


# --- authentication --------------------------------------------------------------------


def _assert_refused_unauthenticated(response: Any, channel: Channel) -> None:
    assert_problem(response, 401, "invalid_bot_key")
    assert response["WWW-Authenticate"] == "Bearer"
    assert channel.stored() == 0
    assert channel.used() == 0


def test_a_missing_key_is_401(client: Client, channel: Channel) -> None:
    response = post_message(client, channel.bot.id, None, {"user_id": "u", "text": "hello"})
    _assert_refused_unauthenticated(response, channel)


@pytest.mark.parametrize(
    "authorization",
    ["Bearer byk_wrong", "Bearer ", "Basic dXNlcjpwYXNz", "byk_no_scheme", "Bearer " + "x" * 500],
)
def test_a_wrong_key_is_401(client: Client, channel: Channel, authorization: str) -> None:
    response = client.post(
        channel.path,
        json.dumps({"user_id": "u", "text": "hello"}),
        content_type="application/json",
        headers={"Authorization": authorization},
    )
    _assert_refused_unauthenticated(response, channel)


def test_a_revoked_key_is_401(client: Client, channel: Channel) -> None:
    accepted(send(client, channel))
    key = BotKey.objects.get(bot=channel.bot)
    bot_services.bot_key_revoke(
        actor=channel.actor, workspace_id=channel.workspace.id, bot_id=channel.bot.id,
        key_id=key.id,
    )  # fmt: skip

    response = send(client, channel)

    assert_problem(response, 401, "invalid_bot_key")
    assert channel.stored() == 1
    assert channel.used() == 1


def test_a_key_of_another_bot_is_401(client: Client, channel: Channel) -> None:
    other = channel.add_bot()

    response = post_message(client, channel.bot.id, other.key, {"user_id": "u", "text": "hi"})

    _assert_refused_unauthenticated(response, channel)
    assert Message.objects.count() == 0


def test_a_key_of_a_bot_in_another_workspace_is_401(client: Client, channel: Channel) -> None:
    stranger = make_channel()

    response = post_message(client, channel.bot.id, stranger.key, {"user_id": "u", "text": "hi"})

    _assert_refused_unauthenticated(response, channel)
    assert stranger.used() == 0


def test_an_unknown_bot_is_401_not_404(client: Client, channel: Channel) -> None:
    response = post_message(client, "bot_unknown", channel.key, {"user_id": "u", "text": "hi"})
    _assert_refused_unauthenticated(response, channel)


def test_a_personal_access_token_is_not_a_bot_key(client: Client, channel: Channel) -> None:
    token = factories.token_secret(user=channel.owner)
    response = post_message(client, channel.bot.id, token, {"user_id": "u", "text": "hi"})
    _assert_refused_unauthenticated(response, channel)


# --- publishing ------------------------------------------------------------------------


def test_an_unpublished_bot_is_409_and_nothing_is_stored_or_counted(client: Client) -> None:
    draft_only = make_channel(publish=False)

    response = send(client, draft_only, "hours")

    assert_problem(response, 409, "bot_not_published")
    assert draft_only.stored() == 0
    assert draft_only.used() == 0
    assert Conversation.objects.count() == 0
    assert DailyBotStats.objects.count() == 0


def test_the_published_version_answers_not_the_draft(client: Client, channel: Channel) -> None:
    ids: dict[str, Any] = {
        "actor": channel.actor,
        "workspace_id": channel.workspace.id,
        "bot_id": channel.bot.id,
    }
    assert accepted(send(client, channel, "hours"))["reply"]["text"] == HOURS_REPLY

    bot_services.bot_update(
        **ids, definition=definition(hours_reply="Open all night.", fallback="Say again?")
    )
    assert accepted(send(client, channel, "hours"))["reply"]["text"] == HOURS_REPLY
    assert accepted(send(client, channel, "joke"))["reply"]["text"] == FALLBACK

    bot_services.bot_publish(**ids)
    assert accepted(send(client, channel, "hours"))["reply"]["text"] == "Open all night."
    assert accepted(send(client, channel, "joke"))["reply"]["text"] == "Say again?"

    versions = list(Message.objects.order_by("received_at", "id").values_list("bot_version"))
    assert versions == [(1,), (1,), (1,), (2,), (2,)]


# --- validation ------------------------------------------------------------------------


def _assert_invalid(response: Any, channel: Channel, field: str | None = None) -> None:
    body = assert_problem(response, 400)
    assert body["code"] in {"validation_error", "malformed_json"}
    if field is not None:
        assert field in {error["field"] for error in body["errors"]}, body
    assert channel.stored() == 0
    assert channel.used() == 0
    assert Conversation.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "u", "text": ""}, "text"),
        ({"user_id": "u", "text": "x" * 4097}, "text"),
        ({"user_id": "u", "text": "x" * 100_001}, "text"),
        ({"user_id": "u"}, "text"),
        ({"user_id": "u", "text": None}, "text"),
        ({"user_id": "u", "text": 42}, "text"),
        ({"text": "hello"}, "user_id"),
        ({"user_id": "", "text": "hello"}, "user_id"),
        ({"user_id": "u" * 256, "text": "hello"}, "user_id"),
        ({"user_id": "u", "text": "hello", "conversation_id": ""}, "conversation_id"),
    ],
)
def test_an_invalid_message_is_400(
    client: Client, channel: Channel, body: dict[str, Any], field: str
) -> None:
    response = post_message(client, channel.bot.id, channel.key, body)
    _assert_invalid(response, channel, field)


@pytest.mark.parametrize("raw", ['{"user_id": "u", "text": ', "not json", "[1, 2]", "", "null"])
def test_a_malformed_body_is_400(client: Client, channel: Channel, raw: str) -> None:
    response = post_message(client, channel.bot.id, channel.key, raw)
    _assert_invalid(response, channel)


def test_unparseable_json_says_so(client: Client, channel: Channel) -> None:
    response = post_message(client, channel.bot.id, channel.key, '{"text": "hi"')
    assert assert_problem(response, 400)["code"] == "malformed_json"


def test_4096_characters_and_a_255_character_user_id_are_accepted(
    client: Client, channel: Channel
) -> None:
    body = {"user_id": "u" * 255, "text": "x" * 4096}
    message_id = accepted(post_message(client, channel.bot.id, channel.key, body))["message_id"]
    assert len(Message.objects.get(id=message_id).text) == 4096


def test_an_invalid_retry_is_refused_before_it_is_replayed(
    client: Client, channel: Channel
) -> None:
    accepted(send(client, channel, "hello", idempotency_key="k"))

    response = send(client, channel, "", idempotency_key="k")

    assert_problem(response, 400, "validation_error")
    assert channel.used() == 1


# --- the message limit -----------------------------------------------------------------

CREATED = dt.datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
# The period that started on Jan 31 ends on Feb 28 (clamped), at the same time of day.
PERIOD_END = dt.datetime(2026, 2, 28, 10, 0, tzinfo=UTC)


@pytest.fixture
def dated_channel() -> Channel:
    """A channel whose workspace started its plan on 2026-01-31 10:00 UTC."""
    with clock.frozen(CREATED):
        return make_channel()


def _assert_limit_reached(response: Any, retry_after: int) -> None:
    assert_problem(response, 429, "message_limit_reached")
    assert response["Retry-After"] == str(retry_after)


def test_at_a_small_custom_limit_the_next_message_is_429(
    client: Client, dated_channel: Channel
) -> None:
    channel = dated_channel
    channel.set_message_limit(3)
    now = dt.datetime(2026, 2, 27, 22, 0, tzinfo=UTC)
    with clock.frozen(now):
        usages = [accepted(send(client, channel, "hello"))["usage"] for _ in range(3)]
        stored_ids = set(Message.objects.values_list("id", flat=True))

        refused = send(client, channel, "hours", idempotency_key="late")

    assert usages == [{"used": n, "limit": 3} for n in (1, 2, 3)]
    _assert_limit_reached(refused, 12 * 3600)
    assert set(Message.objects.values_list("id", flat=True)) == stored_ids
    assert Conversation.objects.count() == 3
    assert channel.used(now) == 3
    assert DailyBotStats.objects.get(bot=channel.bot).messages == 3


def test_at_the_limit_an_unknown_conversation_is_429_and_a_known_one_unchanged(
    client: Client, dated_channel: Channel
) -> None:
    """The cap is checked before the conversation is known to be missing, as the order
    of refusals in api.md has it; and a refused message leaves its conversation alone."""
    channel = dated_channel
    channel.set_message_limit(1)
    now = dt.datetime(2026, 2, 27, 22, 0, tzinfo=UTC)
    with clock.frozen(now - dt.timedelta(hours=1)):
        first = accepted(send(client, channel, "hello"))
    conversation = Conversation.objects.values().get()
    with clock.frozen(now):
        unknown = send(client, channel, "hours", conversation_id="conv_unknown")
        known = send(client, channel, "hours", conversation_id=first["conversation_id"])

    _assert_limit_reached(unknown, 12 * 3600)
    _assert_limit_reached(known, 12 * 3600)
    assert Conversation.objects.values().get() == conversation
    assert (Message.objects.count(), channel.used(now)) == (1, 1)
    assert DailyBotStats.objects.get(bot=channel.bot).messages == 1


def test_the_refused_message_is_not_remembered_for_a_retry(
    client: Client, dated_channel: Channel
) -> None:
    """A refusal stores nothing, so the same idempotency key is free to succeed later."""
    channel = dated_channel
    channel.set_message_limit(1)
    with clock.frozen(dt.datetime(2026, 2, 1, tzinfo=UTC)):
        accepted(send(client, channel))
        assert send(client, channel, idempotency_key="k").status_code == 429
        assert send(client, channel, idempotency_key="k").status_code == 429
    assert channel.stored() == 1

    with clock.frozen(PERIOD_END):
        assert accepted(send(client, channel, idempotency_key="k"))["usage"]["used"] == 1
    assert channel.stored() == 2


def test_the_community_limit_is_2000(client: Client, dated_channel: Channel) -> None:
    channel = dated_channel
    now = dt.datetime(2026, 2, 10, 10, 0, 0, tzinfo=UTC)
    with clock.frozen(now):
        counter = channel.set_used(1999)

        last = accepted(send(client, channel, "hours"))
        refused = send(client, channel, "hours")

    assert last["usage"] == {"used": 2000, "limit": 2000}
    _assert_limit_reached(refused, 18 * 24 * 3600)
    counter.refresh_from_db()
    assert counter.messages == 2000
    assert channel.stored() == 1


def test_retry_after_counts_the_seconds_to_the_end_of_the_period(
    client: Client, dated_channel: Channel
) -> None:
    channel = dated_channel
    channel.set_message_limit(0)
    for now, seconds in [
        (CREATED, 28 * 24 * 3600),  # the very first instant of the period
        (dt.datetime(2026, 2, 28, 9, 59, 0, tzinfo=UTC), 60),
        (dt.datetime(2026, 2, 28, 9, 59, 59, tzinfo=UTC), 1),
    ]:
        with clock.frozen(now):
            _assert_limit_reached(send(client, channel), seconds)
    assert channel.stored() == 0
    assert UsageCounter.objects.filter(messages__gt=0).count() == 0


def test_retry_after_never_points_before_the_end_of_the_period(
    client: Client, dated_channel: Channel
) -> None:
    channel = dated_channel
    channel.set_message_limit(0)
    now = PERIOD_END - dt.timedelta(seconds=90, microseconds=500_000)
    with clock.frozen(now):
        response = send(client, channel)
    retry_at = now + dt.timedelta(seconds=int(response["Retry-After"]))
    assert retry_at >= PERIOD_END
    assert retry_at - PERIOD_END < dt.timedelta(seconds=1)


def test_a_new_period_accepts_again(client: Client, dated_channel: Channel) -> None:
    channel = dated_channel
    channel.set_message_limit(2)
    with clock.frozen(dt.datetime(2026, 2, 27, tzinfo=UTC)):
        accepted(send(client, channel))
        accepted(send(client, channel))
        assert send(client, channel).status_code == 429

    with clock.frozen(PERIOD_END - dt.timedelta(microseconds=1)):
        _assert_limit_reached(send(client, channel), 1)

    with clock.frozen(PERIOD_END):
        renewed = accepted(send(client, channel))
        assert renewed["usage"] == {"used": 1, "limit": 2}
        accepted(send(client, channel))
        # The period from Feb 28 10:00 runs to Mar 31 10:00 (the anchor day again).
        _assert_limit_reached(send(client, channel), 31 * 24 * 3600)

    counters = UsageCounter.objects.filter(workspace=channel.workspace).order_by("period_start")
    assert [(c.period_start, c.period_end, c.messages) for c in counters] == [
        (CREATED, PERIOD_END, 2),
        (PERIOD_END, dt.datetime(2026, 3, 31, 10, 0, tzinfo=UTC), 2),
    ]
    renewed_message = Message.objects.get(id=renewed["message_id"])
    assert renewed_message.period_start == PERIOD_END


def test_the_limit_is_per_workspace(client: Client, channel: Channel) -> None:
    channel.set_message_limit(1)
    stranger = make_channel(message_limit=1)
    accepted(send(client, channel))

    assert send(client, channel).status_code == 429
    assert accepted(send(client, stranger))["usage"] == {"used": 1, "limit": 1}


def test_a_retry_of_an_accepted_message_is_replayed_at_the_limit(
    client: Client, channel: Channel
) -> None:
    channel.set_message_limit(1)
    first = accepted(send(client, channel, idempotency_key="k"))

    assert accepted(send(client, channel, idempotency_key="k")) == first
    assert send(client, channel, idempotency_key="other").status_code == 429
    assert channel.used() == 1


# --- analytics -------------------------------------------------------------------------


def _analytics(api_client: ApiClient, channel: Channel, token: str, **query: str) -> Any:
    path = f"/api/v1/workspaces/{channel.workspace.id}/bots/{channel.bot.id}/analytics"
    return api_client.get(path, query, token=token)


def _at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=UTC)


def test_analytics_counts_messages_and_conversations_per_day(
    client: Client, api_client: ApiClient
) -> None:
    with clock.frozen(_at(1)):
        channel = make_channel()
        other = channel.add_bot()
    token = factories.token_secret(user=channel.owner)
    with clock.frozen(_at(2, 0)):
        first = accepted(send(client, channel))["conversation_id"]
    with clock.frozen(_at(2, 23)):
        accepted(send(client, channel, conversation_id=first))
        accepted(send(client, channel))
        accepted(send(client, other))  # another bot: not in this bot's figures
    with clock.frozen(_at(4)):
        accepted(send(client, channel, conversation_id=first))  # an old conversation
        accepted(send(client, channel, idempotency_key="k"))
        accepted(send(client, channel, idempotency_key="k"))  # a retry: not counted
        assert send(client, channel, conversation_id="conv_nope").status_code == 404

    response = _analytics(api_client, channel, token, since="2026-03-01", until="2026-03-05")

    assert response.status_code == 200, response.content
    assert json.loads(response.content) == {
        "days": [
            {"date": "2026-03-01", "messages": 0, "conversations": 0},
            {"date": "2026-03-02", "messages": 3, "conversations": 2},
            {"date": "2026-03-03", "messages": 0, "conversations": 0},
            {"date": "2026-03-04", "messages": 2, "conversations": 1},
            {"date": "2026-03-05", "messages": 0, "conversations": 0},
        ]
    }


def test_analytics_range_is_inclusive(client: Client, api_client: ApiClient) -> None:
    with clock.frozen(_at(2)):
        channel = make_channel()
        accepted(send(client, channel))
    token = factories.token_secret(user=channel.owner)

    one_day = _analytics(api_client, channel, token, since="2026-03-02", until="2026-03-02")
    after = _analytics(api_client, channel, token, since="2026-03-03", until="2026-03-09")

    assert json.loads(one_day.content)["days"] == [
        {"date": "2026-03-02", "messages": 1, "conversations": 1}
    ]
    days = json.loads(after.content)["days"]
    assert [d["date"] for d in days] == [f"2026-03-0{n}" for n in range(3, 10)]
    assert {(d["messages"], d["conversations"]) for d in days} == {(0, 0)}


def test_analytics_defaults_to_the_last_30_days(client: Client, api_client: ApiClient) -> None:
    with clock.frozen(_at(20)):
        channel = make_channel()
        accepted(send(client, channel))
        token = factories.token_secret(user=channel.owner)
        days = json.loads(_analytics(api_client, channel, token).content)["days"]

    assert len(days) == 30
    assert (days[0]["date"], days[-1]["date"]) == ("2026-02-19", "2026-03-20")
    assert days[-1] == {"date": "2026-03-20", "messages": 1, "conversations": 1}


@pytest.mark.parametrize(
    "query",
    [
        {"since": "2026-03-05", "until": "2026-03-04"},
        {"since": "2026-13-01"},
        {"since": "2026-02-30"},
        {"until": "yesterday"},
        {"since": "03/01/2026"},
        {"since": "2026-03-01", "until": "2026-03-1x"},
    ],
)
def test_analytics_refuses_a_bad_range_with_400(
    api_client: ApiClient, channel: Channel, query: dict[str, str]
) -> None:
    token = factories.token_secret(user=channel.owner)
    assert_problem(_analytics(api_client, channel, token, **query), 400)


def test_analytics_of_a_workspace_i_am_not_in_is_404(
    api_client: ApiClient, channel: Channel
) -> None:
    outsider = factories.token_secret(user=factories.user())
    response = _analytics(api_client, channel, outsider)
    assert_problem(response, 404)


def test_analytics_needs_a_token_not_a_bot_key(api_client: ApiClient, channel: Channel) -> None:
    assert_problem(_analytics(api_client, channel, channel.key), 401)


def test_an_sqlite_without_returning_is_refused_at_start() -> None:
    from botyard.messaging.checks import sqlite_supports_returning

    assert sqlite_supports_returning(version=(3, 35, 0)) == []
    refused = sqlite_supports_returning(version=(3, 34, 1))
    if connection.vendor == "sqlite":
        assert [m.id for m in refused] == ["botyard.E001"]
        assert "3.34.1" in refused[0].msg
    else:
        assert refused == []
