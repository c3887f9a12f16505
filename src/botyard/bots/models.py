from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q

from botyard.accounts.models import User
from botyard.core import clock
from botyard.core.ids import new_id
from botyard.workspaces.models import Workspace


def new_bot_id() -> str:
    return new_id("bot")


def new_key_id() -> str:
    return new_id("key")


class Bot(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_bot_id, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="bots")
    name = models.CharField(max_length=64)
    description = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_by_email = models.EmailField(max_length=254)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)
    definition = models.JSONField(default=dict)  # the draft
    # The number of the newest version; it is the one that answers messages.
    published_version = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["workspace", "created_at", "id"])]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=Q(published_version__isnull=True) | Q(published_version__gte=1),
                name="bot_published_version_positive",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class BotVersion(models.Model):
    """An immutable snapshot of a bot's draft, numbered 1, 2, … per bot."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    published_at = models.DateTimeField(default=clock.now)
    published_by_email = models.EmailField(max_length=254)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["bot", "number"], name="bot_version_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="bot_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.bot_id} v{self.number}"


class BotKey(models.Model):
    """A secret a channel uses to post messages to the bot. Only its digest is stored."""

    id = models.CharField(primary_key=True, max_length=32, default=new_key_id, editable=False)
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="keys")
    name = models.CharField(max_length=64)
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=clock.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["bot", "created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
