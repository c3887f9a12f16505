"""Building blocks for the billing tests: a workspace (tests.workspaces.world.World) with a
published bot and its key, the usage counter of a period, Enterprise terms set as staff set
them, and a race of threads with their own database connections.

The clock is frozen at T0 (the `t0` fixture of tests/billing/conftest.py), so every World
made in a test starts its plan, and its first billing period, at T0.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.db import connection
from django.test import Client

from botyard.audit.models import AuditEvent
from botyard.billing.periods import Period, period_containing
from botyard.bots import services as bot_services
from botyard.core import clock
from botyard.messaging.models import UsageCounter
from botyard.workspaces.models import Workspace
from tests.workspaces.world import World

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
T0_TEXT = "2026-03-01T09:30:00Z"
PERIOD_END = dt.datetime(2026, 4, 1, 9, 30, tzinfo=UTC)  # T0's period ends a month later
PERIOD_END_TEXT = "2026-04-01T09:30:00Z"
JOIN_TIMEOUT = 120


def body(response: Any) -> Any:
    return json.loads(response.content)


def dollars(cents: int) -> str:
    """How a person writes an amount of cents: $1,234.56 (computed here independently of
    botyard.core.money, so that the tests check the formatting too)."""
    return f"${Decimal(cents) / 100:,.2f}"


class Shop(World):
    """A World whose bot is published, with a key a channel posts messages with."""

    @cached_property
    def channel_key(self) -> str:
        bot_services.bot_publish(actor=self.owner.actor, workspace_id=self.id, bot_id=self.bot.id)
        return self.key_secret

    @property
    def url(self) -> str:
        return f"/api/v1/workspaces/{self.id}"

    def billing_url(self, suffix: str = "") -> str:
        return f"{self.url}/billing{suffix}"

    def invoices_url(self, suffix: str = "") -> str:
        return f"{self.url}/invoices{suffix}"

    def post_message(self, client: Client, text: str = "opening hours") -> Any:
        """POST an incoming message as a channel does, with the bot's key."""
        return client.post(
            f"/api/v1/bots/{self.bot.id}/messages",
            json.dumps({"user_id": "end-user-1", "text": text}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {self.channel_key}"},
        )

    def period(self, at: dt.datetime | None = None) -> Period:
        return period_containing(self.refresh().plan_started_at, at or clock.now())

    def set_used(self, used: int, at: dt.datetime | None = None) -> None:
        """The period's usage counter, as if `used` messages had been accepted already."""
        period = self.period(at)
        counter, _ = UsageCounter.objects.get_or_create(
            workspace_id=self.id, period_start=period.start, defaults={"period_end": period.end}
        )
        UsageCounter.objects.filter(pk=counter.pk).update(messages=used)

    def used(self, at: dt.datetime | None = None) -> int:
        counter = UsageCounter.objects.filter(
            workspace_id=self.id, period_start=self.period(at).start
        ).first()
        return counter.messages if counter else 0

    def set_terms(self, **fields: Any) -> Workspace:
        """Change the workspace's row the way staff do in the admin (plan, custom_* terms)."""
        Workspace.objects.filter(pk=self.id).update(**fields)
        return self.refresh()

    def events(self, after: int = 0) -> list[AuditEvent]:
        """The workspace's audit events with a sequence number above `after`, oldest first."""
        return list(AuditEvent.objects.filter(workspace_id=self.id, seq__gt=after).order_by("seq"))

    def last_seq(self) -> int:
        event = AuditEvent.objects.filter(workspace_id=self.id).order_by("-seq").first()
        return event.seq if event else 0


def race(threads: int, work: Callable[[int], Any]) -> tuple[list[Any], list[str]]:
    """Run `work(i)` in `threads` threads released together by a barrier, each with its own
    database connection (closed at the end); their results, and any unexpected errors."""
    barrier = threading.Barrier(threads)
    results: list[Any] = []
    failures: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=JOIN_TIMEOUT)
            result = work(i)
            with lock:
                results.append(result)
        except Exception as error:  # reported, so that the assertion shows what went wrong
            with lock:
                failures.append(f"thread {i}: {type(error).__name__}: {error}")
        finally:
            connection.close()

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in pool), "a thread did not finish"
    return results, failures
