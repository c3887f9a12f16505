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
from botyard.core.errors import (
    Conflict,
    NotFound,
    Throttled,
    ValidationFailed,
    invalid_bot_key_error,
)
from botyard.messaging import statements
from botyard.messaging.models import new_conversation_id, new_message_id
from botyard.messaging.statements import NewMessage, Sender
from botyard.messaging.writer import writer_turn

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


def _lookup_key(idempotency_key: str | None) -> str | None:
    """The idempotency key as the lookup may send it; one _validate refuses is left out
    (PostgreSQL cannot even compare text holding a NUL)."""
    if idempotency_key is None or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        return None
    return None if "\x00" in idempotency_key else idempotency_key


def _sender(bot_id: str, secret: str | None, idempotency_key: str | None) -> Sender:
    sender = None
    if secret and len(secret) <= 200:
        sender = statements.sender(key_digest(secret), _lookup_key(idempotency_key))
    if sender is None or sender.bot_id != bot_id:
        raise invalid_bot_key_error()
    return sender


def _digest(message: IncomingMessage) -> str:
    body = json.dumps([message.user_id, message.text, message.conversation_id])
    return hashlib.sha256(body.encode()).hexdigest()


def _replayed(stored: tuple[str, dict[str, Any]] | None, digest: str) -> dict[str, Any] | None:
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
    *, bot_id: str, secret: str | None, message: IncomingMessage,
    idempotency_key: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Answer, store and count one message sent with a bot key (`secret`) to `bot_id`.
    One query finds the key, its bot and workspace, and the answer already given under
    `idempotency_key`; one transaction counts and stores it (statements.store_and_count:
    four statements on SQLite, one on PostgreSQL)."""
    sender = _sender(bot_id, secret, idempotency_key)
    _validate(message, idempotency_key)
    digest = _digest(message)
    if idempotency_key is not None:
        replayed = _replayed(sender.stored, digest)
        if replayed is not None:
            return replayed
    if sender.published_version is None:
        raise Conflict(
            "This bot has no published version yet; publish it to answer messages.",
            code="bot_not_published",
        )
    try:
        response = _store_and_count(sender, sender.published_version, message, idempotency_key,
                                    digest)  # fmt: skip
    except (IntegrityError, Throttled):
        # Two deliveries of one idempotency key raced; the first one's answer stands, also
        # when it took the last message of the period and so made this one look refused.
        if idempotency_key is not None:
            replayed = _replayed(statements.stored_answer(bot_id, idempotency_key), digest)
            if replayed is not None:
                return replayed
        raise
    _touch_key(sender)
    return response


def _store_and_count(
    sender: Sender, published: int, message: IncomingMessage, idempotency_key: str | None,
    digest: str,
) -> dict[str, Any]:  # fmt: skip
    workspace = sender.workspace
    matcher = _published_matcher(sender.bot_id, published)
    reply, _intent = matcher.reply(message.text)
    with writer_turn(), transaction.atomic():
        # Read inside the transaction: on SQLite it may wait for the write lock first.
        now = clock.now()
        period = period_containing(workspace.plan_started_at, now)
        cap = message_cap(workspace)
        new = NewMessage(
            message_id=new_message_id(), workspace_id=workspace.id, bot_id=sender.bot_id,
            conversation_id=message.conversation_id or new_conversation_id(),
            started_conversation=not message.conversation_id, end_user_id=message.user_id,
            text=message.text, reply=reply, bot_version=published, received_at=now,
            period_start=period.start, period_end=period.end, idempotency_key=idempotency_key,
            request_digest=digest, included=cap.included,
        )  # fmt: skip
        # The counter first: a full workspace answers 429 before conversation_not_found,
        # and every transaction that locks both rows locks the counter's first.
        counted, conversation_found = statements.store_and_count(new, cap.cap)
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
        if not conversation_found:  # rolls the count back
            raise NotFound(
                "No such conversation for this bot; omit conversation_id to start one.",
                code="conversation_not_found",
            )
        note_usage(
            workspace=workspace, counter_id=counted.counter_id, used=counted.used,
            included=cap.included, already_sent=counted.already_alerted,
        )  # fmt: skip
    return statements.response_of(new, counted.used)


@lru_cache(maxsize=512)
def _published_matcher(bot_id: str, number: int) -> Matcher:
    """A version's definition, ready to match, kept per process: versions are never
    changed once published (a new one gets the next number), so (bot, number) always
    names the same definition."""
    definition = BotVersion.objects.only("definition").get(bot_id=bot_id, number=number).definition
    return compile_definition(definition)


def _touch_key(sender: Sender) -> None:
    now = clock.now()
    last_used = sender.key_last_used_at
    if last_used is None or now - last_used >= KEY_LAST_USED_RESOLUTION:
        BotKey.objects.filter(pk=sender.key_id).update(last_used_at=now)
