"""A channel world for the message tests: an owner, a workspace, a published bot and its
key, all made through the services, as the application itself would make them."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import dataclass
from typing import Any

from django.test import Client

from botyard.accounts.models import User
from botyard.billing.periods import period_containing
from botyard.bots import services as bot_services
from botyard.bots.models import Bot
from botyard.core import clock
from botyard.core.actor import Actor
from botyard.messaging.models import Message, UsageCounter
from botyard.workspaces import services as workspace_services
from botyard.workspaces.models import Workspace
from tests import factories

UTC = dt.UTC
HOURS_REPLY = "We are open from 9 to 5."
PRICE_REPLY = "It costs five dollars."
FALLBACK = "Sorry, I did not get that."
_users = itertools.count(1)


def definition(*, hours_reply: str = HOURS_REPLY, fallback: str = FALLBACK) -> dict[str, Any]:
    return {
        "format": 1,
        "greeting": "Hello!",
        "fallback": fallback,
        "intents": [
            {
                "name": "hours",
                "examples": ["opening hours", "when are you open"],
                "reply": hours_reply,
            },
            {"name": "price", "examples": ["how much does it cost"], "reply": PRICE_REPLY},
        ],
    }


@dataclass
class Channel:
    """A published bot and one of its keys, in a workspace of its own."""

    owner: User
    workspace: Workspace
    bot: Bot
    key: str

    @property
    def actor(self) -> Actor:
        return Actor(self.owner)

    @property
    def path(self) -> str:
        return messages_path(self.bot.id)

    def set_message_limit(self, limit: int | None) -> None:
        Workspace.objects.filter(pk=self.workspace.pk).update(custom_message_limit=limit)
        self.workspace.refresh_from_db()

    def period(self, at: dt.datetime | None = None) -> Any:
        return period_containing(self.workspace.plan_started_at, at or clock.now())

    def set_used(self, used: int) -> UsageCounter:
        """The usage counter of the current period, as if `used` messages came already."""
        period = self.period()
        counter, _ = UsageCounter.objects.update_or_create(
            workspace=self.workspace,
            period_start=period.start,
            defaults={"period_end": period.end, "messages": used},
        )
        return counter

    def used(self, at: dt.datetime | None = None) -> int:
        counter = UsageCounter.objects.filter(
            workspace=self.workspace, period_start=self.period(at).start
        ).first()
        return counter.messages if counter else 0

    def stored(self) -> int:
        return Message.objects.filter(bot=self.bot).count()

    def add_bot(self, name: str = "Second bot", *, publish: bool = True) -> Channel:
        """Another bot (and key) in the same workspace."""
        return _bot_with_key(self.owner, self.workspace, name, publish=publish)


def messages_path(bot_id: str) -> str:
    return f"/api/v1/bots/{bot_id}/messages"


def _bot_with_key(owner: User, workspace: Workspace, name: str, *, publish: bool) -> Channel:
    actor = Actor(owner)
    bot = bot_services.bot_create(
        actor=actor, workspace_id=workspace.id, name=name, definition=definition()
    )
    if publish:
        bot_services.bot_publish(actor=actor, workspace_id=workspace.id, bot_id=bot.id)
        bot.refresh_from_db()
    _key, secret = bot_services.bot_key_create(
        actor=actor, workspace_id=workspace.id, bot_id=bot.id, name="website"
    )
    return Channel(owner=owner, workspace=workspace, bot=bot, key=secret)


def make_channel(*, publish: bool = True, message_limit: int | None = None) -> Channel:
    owner = factories.user()
    workspace = workspace_services.workspace_create(
        actor=Actor(owner), name=f"Workspace {next(_users)}"
    )
    channel = _bot_with_key(owner, workspace, "Support bot", publish=publish)
    if message_limit is not None:
        channel.set_message_limit(message_limit)
    return channel


def post_message(
    client: Client,
    bot_id: str,
    key: str | None,
    body: Any,
    *,
    idempotency_key: str | None = None,
) -> Any:
    """POST a message as a channel does; `body` is JSON-encoded unless it is a str."""
    headers = {}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.post(messages_path(bot_id), raw, content_type="application/json", headers=headers)
