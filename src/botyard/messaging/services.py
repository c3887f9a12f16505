"""Incoming messages (product.md §5): store, answer, and count each accepted one exactly
once. The usage counter is incremented by a conditional UPDATE in the same transaction
that stores the message, so "acknowledged", "stored" and "counted" cannot disagree."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db import IntegrityError, transaction

from botyard.billing.alerts import note_usage
from botyard.billing.periods import period_containing
from botyard.billing.usage import message_cap
from botyard.bots.models import BotKey, BotVersion
from botyard.bots.runtime import Matcher, compile_definition
from botyard.bots.services import key_digest
from botyard.core import clock
from botyard.core.errors import Conflict, NotAuthenticated, NotFound, Throttled, ValidationFailed
from botyard.messaging import statements
from botyard.messaging.models import (
    DailyBotStats,
    UsageCounter,
    new_conversation_id,
    new_message_id,
)

MAX_TEXT = 4_096
MAX_USER_ID = 255
MAX_IDEMPOTENCY_KEY = 255
KEY_LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class IncomingMessage:
    user_id: str
    text: str
    conversation_id: str | None = None


def _validate(message: IncomingMessage, idempotency_key: str | None) -> None:
    errors = []
    if not isinstance(message.text, str) or not 1 <= len(message.text) <= MAX_TEXT:
        errors.append({"field": "text", "message": f"Send 1 to {MAX_TEXT} characters."})
    elif "\x00" in message.text:  # PostgreSQL text cannot hold a NUL
        errors.append({"field": "text", "message": "The text cannot hold a NUL character."})
    if not isinstance(message.user_id, str) or not 1 <= len(message.user_id) <= MAX_USER_ID:
        errors.append({"field": "user_id", "message": f"Send 1 to {MAX_USER_ID} characters."})
    elif "\x00" in message.user_id:  # PostgreSQL text cannot hold a NUL
        errors.append({"field": "user_id", "message": "The id cannot hold a NUL character."})
    # The ids this server issues hold no NUL, which PostgreSQL text cannot even compare.
    conversation_id = message.conversation_id
    if conversation_id is not None and (
        not 1 <= len(conversation_id) <= 64 or "\x00" in conversation_id
    ):
        errors.append({"field": "conversation_id", "message": "Not a conversation id."})
    if idempotency_key is not None and (
        not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY or "\x00" in idempotency_key
    ):
        errors.append({"field": "Idempotency-Key", "message": "Send 1 to 255 characters."})
    if errors:
        raise ValidationFailed("The message is not valid.", errors=errors)


def authenticate_bot_key(*, bot_id: str, secret: str | None) -> BotKey:
    key = None
    if secret and len(secret) <= 200:
        key = statements.key_with_bot_and_workspace(key_digest(secret))
    if key is None or key.bot_id != bot_id:
        raise NotAuthenticated(
            "Send a valid key of this bot as 'Authorization: Bearer <bot key>'.",
            code="invalid_bot_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return key


def _digest(message: IncomingMessage) -> str:
    body = json.dumps([message.user_id, message.text, message.conversation_id])
    return hashlib.sha256(body.encode()).hexdigest()


def _replay(key: BotKey, idempotency_key: str, digest: str) -> dict[str, Any] | None:
    stored = statements.stored_answer(key.bot_id, idempotency_key)
    if stored is None:
        return None
    request_digest, response = stored
    if request_digest != digest:
        raise Conflict(
            "This Idempotency-Key was already used for a different message.",
            code="idempotency_key_reused",
        )
    return response


def message_ingest(
    *, key: BotKey, message: IncomingMessage, idempotency_key: str | None = None
) -> dict[str, Any]:
    _validate(message, idempotency_key)
    digest = _digest(message)
    if idempotency_key is not None:
        replayed = _replay(key, idempotency_key, digest)
        if replayed is not None:
            return replayed
    bot = key.bot
    if bot.published_version is None:
        raise Conflict(
            "This bot has no published version yet; publish it to answer messages.",
            code="bot_not_published",
        )
    try:
        response = _store_and_count(key, message, idempotency_key, digest)
    except (IntegrityError, Throttled):
        # Two deliveries of one idempotency key raced; the first one's answer stands, also
        # when it took the last message of the period and so made this one look refused.
        if idempotency_key is not None:
            replayed = _replay(key, idempotency_key, digest)
            if replayed is not None:
                return replayed
        raise
    _touch_key(key)
    return response


def _store_and_count(
    key: BotKey, message: IncomingMessage, idempotency_key: str | None, digest: str
) -> dict[str, Any]:
    bot, workspace = key.bot, key.bot.workspace
    published = bot.published_version
    assert published is not None  # checked by the caller
    with transaction.atomic():
        # Read inside the transaction: on SQLite it may wait for the write lock first.
        now = clock.now()
        matcher = _published_matcher(bot.id, published)
        period = period_containing(workspace.plan_started_at, now)
        cap = message_cap(workspace)
        # The conversation and the reply before the usage counter: the counter's UPDATE
        # locks the workspace's row until COMMIT, and every message of the workspace waits
        # for it (on PostgreSQL), so it comes as late as it can.
        conversation_id, started = _conversation(bot, workspace, message, now)
        reply, _intent = matcher.reply(message.text)
        # Update first: the counter row exists for all but the period's first message.
        counted = statements.count_message(workspace.id, period.start, cap.cap)
        if counted is None:
            UsageCounter.objects.get_or_create(
                workspace=workspace, period_start=period.start, defaults={"period_end": period.end}
            )
            counted = statements.count_message(workspace.id, period.start, cap.cap)
        if counted is None:
            detail = (
                "This workspace has used all the messages its plan includes this period."
                if cap.reason == "message_limit_reached"
                else "This message would take the bill over the workspace's monthly budget."
            )
            raise Throttled(
                f"{detail} The bot answers again when the period renews, the plan is upgraded "
                "or the budget raised.",
                retry_after=period.seconds_left(now),
                code=cap.reason,
            )
        if conversation_id is None:  # after the cap check: a full workspace answers 429
            raise NotFound(
                "No such conversation for this bot; omit conversation_id to start one.",
                code="conversation_not_found",
            )
        counter_id, used, alerted = counted
        note_usage(
            workspace=workspace, counter_id=counter_id, used=used, included=cap.included,
            already_sent=alerted,
        )  # fmt: skip
        message_id = new_message_id()
        response = {
            "message_id": message_id,
            "conversation_id": conversation_id,
            "reply": {"text": reply},
            "usage": {"used": used, "limit": cap.included},
        }
        statements.insert_message(
            {
                "id": message_id, "workspace_id": workspace.id, "bot_id": bot.id,
                "conversation_id": conversation_id, "end_user_id": message.user_id,
                "text": message.text, "reply": reply, "bot_version": published,
                "received_at": now, "period_start": period.start,
                "idempotency_key": idempotency_key, "request_digest": digest,
                "response": response,
            }
        )  # fmt: skip
        day = now.date()
        if not statements.count_in_daily_stats(bot.id, day, started):
            DailyBotStats.objects.get_or_create(workspace=workspace, bot=bot, day=day)
            statements.count_in_daily_stats(bot.id, day, started)
    return response


@lru_cache(maxsize=512)
def _published_matcher(bot_id: str, number: int) -> Matcher:
    """A version's definition, ready to match, kept per process: versions are never
    changed once published (a new one gets the next number), so (bot, number) always
    names the same definition."""
    definition = BotVersion.objects.only("definition").get(bot_id=bot_id, number=number).definition
    return compile_definition(definition)


def _conversation(bot: Any, workspace: Any, message: IncomingMessage, now: dt.datetime
                  ) -> tuple[str | None, bool]:  # fmt: skip
    """The conversation's id (None: the bot has no conversation of the id sent), and
    whether this message started it."""
    if message.conversation_id:
        # One statement finds and touches it; ids compare exactly on both databases.
        if not statements.touch_conversation(message.conversation_id, bot.id, now):
            return None, False
        return message.conversation_id, False
    conversation_id = new_conversation_id()
    statements.insert_conversation(conversation_id, workspace.id, bot.id, message.user_id, now)
    return conversation_id, True


def _touch_key(key: BotKey) -> None:
    now = clock.now()
    if key.last_used_at is None or now - key.last_used_at >= KEY_LAST_USED_RESOLUTION:
        BotKey.objects.filter(pk=key.pk).update(last_used_at=now)
