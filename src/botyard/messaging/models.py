from __future__ import annotations

from typing import ClassVar

from django.db import models

from botyard.bots.models import Bot
from botyard.core import clock
from botyard.core.ids import new_id
from botyard.workspaces.models import Workspace


def new_conversation_id() -> str:
    return new_id("conv")


def new_message_id() -> str:
    return new_id("msg")


class Conversation(models.Model):
    id = models.CharField(
        primary_key=True, max_length=32, default=new_conversation_id, editable=False
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    # Found through the (bot, started_at) index: every index is one more write per message.
    bot = models.ForeignKey(
        Bot, on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    end_user_id = models.CharField(max_length=255)
    # When it last had a message is read from the (conversation, received_at) index of
    # its messages rather than kept here: that would be one more write for each message.
    started_at = models.DateTimeField(default=clock.now)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["bot", "started_at"])]

    def __str__(self) -> str:
        return self.id


class Message(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_message_id, editable=False)
    # Found through the (workspace, period_start) and (conversation, received_at) indexes,
    # not indexes of their own: each index is one more write for every message.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # Found through the (bot, idempotency_key) unique index, which begins with the bot.
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="messages", db_index=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    end_user_id = models.CharField(max_length=255)
    text = models.TextField()
    reply = models.TextField()
    bot_version = models.PositiveIntegerField()
    received_at = models.DateTimeField(default=clock.now)
    period_start = models.DateTimeField()
    # NULL, not "", for "no key": NULLs are distinct in a unique index, so any number
    # of messages without a key share a bot.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # sha256 of the request body, to tell a true retry from a reused key.
    request_digest = models.CharField(max_length=64)
    # The exact answer given, replayed to a retry with the same idempotency key.
    response = models.JSONField()

    class Meta:
        constraints: ClassVar = [
            # Over every message (not only those with a key), so that it also serves as
            # the bot's index: one index fewer to write for each message.
            models.UniqueConstraint(
                fields=["bot", "idempotency_key"], name="message_bot_idempotency_unique"
            )
        ]
        indexes: ClassVar = [
            models.Index(fields=["workspace", "period_start"]),
            models.Index(fields=["conversation", "received_at"]),
        ]

    def __str__(self) -> str:
        return self.id


class UsageCounter(models.Model):
    """Accepted incoming messages of one workspace in one billing period. Incremented by a
    conditional UPDATE in the same transaction that stores the message."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    messages = models.PositiveIntegerField(default=0)
    # Usage alerts sent this period; each is set by one conditional UPDATE, so an alert
    # goes out once however many processes see its threshold crossed.
    alerted_messages_75 = models.BooleanField(default=False)
    alerted_messages_100 = models.BooleanField(default=False)
    alerted_budget_75 = models.BooleanField(default=False)
    alerted_budget_100 = models.BooleanField(default=False)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["workspace", "period_start"], name="usage_period_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id} {self.period_start:%Y-%m-%d}: {self.messages}"


class DailyBotStats(models.Model):
    """Per bot and UTC day: incoming messages and conversations started (analytics)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="daily_stats")
    day = models.DateField()
    messages = models.PositiveIntegerField(default=0)
    conversations = models.PositiveIntegerField(default=0)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["bot", "day"], name="daily_stats_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.bot_id} {self.day}: {self.messages}"
