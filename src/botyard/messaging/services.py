"""Incoming messages (product.md §5): store, answer, and count each accepted one exactly
once. The usage counter is incremented by a conditional upsert in the same transaction
that stores the message, so "acknowledged", "stored" and "counted" cannot disagree."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction

from botyard.billing.alerts import alerts_due, note_usage
from botyard.billing.periods import current_period
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
from botyard.messaging.statements import NewMessage, Outcome, Sender
from botyard.messaging.writer import writer_turn

MAX_TEXT = 4_096
MAX_USER_ID = 255
MAX_IDEMPOTENCY_KEY = 255
KEY_LAST_USED_RESOLUTION = dt.timedelta(minutes=1)

logger = logging.getLogger("botyard.messaging")


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


def _key_digest(secret: str | None) -> str:
    if not secret or len(secret) > 200:
        raise invalid_bot_key_error()
    return key_digest(secret)


def _looked_up(digest: str, bot_id: str, idempotency_key: str | None) -> Sender:
    sender = statements.sender(digest, _lookup_key(idempotency_key))
    if sender is None or sender.bot_id != bot_id:
        raise invalid_bot_key_error()
    return sender


# Senders this process has read, by key digest, to send a message's write without a
# lookup first. Never trusted: the write checks in the same statement that the key, the
# bot's published version and the workspace's terms are still these (statements
# ._checked_sql), and a changed one is read again. Bounded by starting afresh when full.
_KNOWN_SENDERS: dict[str, Sender] = {}
MAX_KNOWN_SENDERS = 10_000


def _remember(sender: Sender) -> None:
    if sender.published_version is None:
        return  # refused before any write; nothing to gain
    if len(_KNOWN_SENDERS) >= MAX_KNOWN_SENDERS:
        _KNOWN_SENDERS.clear()
    _KNOWN_SENDERS[sender.key_digest] = dataclasses.replace(sender, stored=None)


def _forget(digest: str) -> None:
    _KNOWN_SENDERS.pop(digest, None)


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


class _SenderChanged(Exception):
    """The key, bot or workspace changed between its read and the message's write."""


ATTEMPTS = 3  # reads of the sender, each after a change that raced the write before


def message_ingest(
    *, bot_id: str, secret: str | None, message: IncomingMessage,
    idempotency_key: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Answer, store and count one message sent with a bot key (`secret`) to `bot_id`.

    A sender (the key, its bot and workspace) this process has already read is not read
    again: the write checks it is unchanged (statements.store_and_count: one statement on
    PostgreSQL, four in one transaction on SQLite). Otherwise one query first finds the
    key, its bot and workspace, and the answer already given under `idempotency_key`.
    The refusals are the same either way, and so is their order: the key (401), the
    message (400), the answer already given (replayed, or 409), publishing (409), the cap
    (429), the conversation (404)."""
    key = _key_digest(secret)
    digest = _digest(message)
    # One pair of ids for every attempt: a write that reached the database unbeknown to
    # this request (its answer lost with the connection) makes any later one fail on them.
    ids = _Ids(new_message_id(), message.conversation_id or new_conversation_id())
    known = _KNOWN_SENDERS.get(key)
    if known is not None and known.bot_id == bot_id:
        try:
            _validate(message, idempotency_key)
        except ValidationFailed:
            _looked_up(key, bot_id, idempotency_key)  # a revoked key is still a 401 first
            raise
        try:
            return _write(known, message, idempotency_key, digest, ids)
        except _SenderChanged:
            _forget(key)
    for _attempt in range(ATTEMPTS):
        sender = _looked_up(key, bot_id, idempotency_key)
        _validate(message, idempotency_key)
        if idempotency_key is not None:
            replayed = _replayed(sender.stored, digest)
            if replayed is not None:
                return replayed
        if sender.published_version is None:
            raise Conflict(
                "This bot has no published version yet; publish it to answer messages.",
                code="bot_not_published",
            )
        _remember(sender)
        try:
            return _write(sender, message, idempotency_key, digest, ids)
        except _SenderChanged:
            _forget(key)
    raise Conflict(
        "The bot or its workspace kept changing while the message was stored; send it again.",
        code="conflict",
    )


@dataclass(frozen=True)
class _Ids:
    message_id: str
    conversation_id: str  # the one named, else the one the message starts


def _write(
    sender: Sender, message: IncomingMessage, idempotency_key: str | None, digest: str,
    ids: _Ids,
) -> dict[str, Any]:  # fmt: skip
    """Store and count the message of a sender with a published version; the answer
    already given under `idempotency_key` wins over any refusal."""
    try:
        response = _store_and_count(sender, message, idempotency_key, digest, ids)
    except (IntegrityError, Throttled, NotFound):
        # The key was used before (its message is stored), or two deliveries of one key
        # raced: the first one's answer stands, also when it took the last message of the
        # period or its conversation is missing, which made this one look refused.
        if idempotency_key is not None:
            replayed = _replayed(statements.stored_answer(sender.bot_id, idempotency_key), digest)
            if replayed is not None:
                return replayed
        raise
    _touch_key(sender)
    return response


def _store_and_count(
    sender: Sender, message: IncomingMessage, idempotency_key: str | None, digest: str,
    ids: _Ids,
) -> dict[str, Any]:  # fmt: skip
    workspace = sender.workspace
    published = sender.published_version
    assert published is not None
    matcher = _published_matcher(sender.bot_id, published)
    reply, _intent = matcher.reply(message.text)
    message_id = ids.message_id
    try:
        with statements.message_transaction():
            # Read inside the transaction: on SQLite it may wait for the write lock first.
            now = clock.now()
            period = current_period(workspace.plan_started_at, now)
            cap = message_cap(workspace)
            new = NewMessage(
                message_id=message_id, workspace_id=workspace.id, bot_id=sender.bot_id,
                conversation_id=ids.conversation_id,
                started_conversation=not message.conversation_id, end_user_id=message.user_id,
                text=message.text, reply=reply, bot_version=published, received_at=now,
                period_start=period.start, period_end=period.end,
                idempotency_key=idempotency_key, request_digest=digest, included=cap.included,
            )  # fmt: skip
            # The counter first: a full workspace answers 429 before conversation_not_found,
            # and every transaction that locks both rows locks the counter's first.
            written = statements.store_and_count(new, cap.cap, sender)
    except IntegrityError:
        # A write sent again on a new connection (statements.once_more_if_dropped) after
        # the first attempt had committed finds its own message already stored.
        stored = statements.stored_response(message_id)
        if stored is not None:
            return stored
        raise
    outcome = written.outcome
    if written.resent and outcome is not Outcome.STORED:
        # Sent again on a new connection: the first attempt may have committed after all.
        stored = statements.stored_response(message_id)
        if stored is not None:
            return stored
    if outcome is Outcome.CHANGED:
        raise _SenderChanged
    if outcome is Outcome.AT_CAP:
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
    if outcome is Outcome.NO_CONVERSATION:
        raise NotFound(
            "No such conversation for this bot; omit conversation_id to start one.",
            code="conversation_not_found",
        )
    counted = written.count
    assert counted is not None
    if alerts_due(workspace=workspace, used=counted.used, included=cap.included,
                  already_sent=counted.already_alerted):  # fmt: skip
        # Claimed after the message's own commit; one a crash leaves unclaimed here is
        # claimed by the workspace's next message, which finds its threshold reached too.
        try:
            with writer_turn(), transaction.atomic():
                note_usage(
                    workspace=workspace, counter_id=counted.counter_id, used=counted.used,
                    included=cap.included, already_sent=counted.already_alerted,
                )  # fmt: skip
        except DatabaseError:
            # The message is stored and counted: it is answered. The alert stays unclaimed
            # for the next message to claim.
            logger.exception("Usage alert not claimed for workspace %s", workspace.id)
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
        known = _KNOWN_SENDERS.get(sender.key_digest)
        # Only the entry this message used: another thread may have replaced or dropped it.
        if known is not None and known == dataclasses.replace(sender, stored=None):
            _KNOWN_SENDERS[sender.key_digest] = dataclasses.replace(known, key_last_used_at=now)
