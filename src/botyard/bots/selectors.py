"""Bot reads."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from botyard.bots.models import Bot, BotKey
from botyard.core import clock
from botyard.core.errors import NotFound, ValidationFailed
from botyard.messaging.models import DailyBotStats
from botyard.workspaces.access import Access, require
from botyard.workspaces.roles import Permission

MAX_ANALYTICS_DAYS = 366


def bot_list_for(*, access: Access) -> QuerySet[Bot]:
    require(access, Permission.BOT_VIEW)
    return Bot.objects.filter(workspace=access.workspace).defer("definition")


def bot_get(*, access: Access, bot_id: str) -> Bot:
    require(access, Permission.BOT_VIEW)
    bot = Bot.objects.filter(workspace=access.workspace, id=bot_id).first()
    if bot is None:
        raise NotFound("No such bot.", code="bot_not_found")
    return bot


def bot_key_list(*, access: Access, bot_id: str) -> QuerySet[BotKey]:
    require(access, Permission.BOT_UPDATE)
    bot = bot_get(access=access, bot_id=bot_id)
    return BotKey.objects.filter(bot=bot)


def bot_analytics(
    *, access: Access, bot_id: str, since: dt.date | None, until: dt.date | None
) -> list[dict[str, object]]:
    """One entry per day from `since` to `until` inclusive (default: the last 30 days),
    zeros included, so a chart needs no gap filling."""
    bot = bot_get(access=access, bot_id=bot_id)
    last = until or clock.now().date()
    first = since or last - dt.timedelta(days=min(29, last.toordinal() - 1))  # from 0001-01-01
    if first > last:
        raise ValidationFailed.field("since", "since must not be after until.")
    if (last - first).days >= MAX_ANALYTICS_DAYS:
        raise ValidationFailed.field("since", f"Ask for at most {MAX_ANALYTICS_DAYS} days.")
    rows = {
        row.day: row for row in DailyBotStats.objects.filter(bot=bot, day__gte=first, day__lte=last)
    }
    days = []
    for offset in range((last - first).days + 1):  # counted: the day after 9999-12-31 is none
        day = first + dt.timedelta(days=offset)
        row = rows.get(day)
        days.append(
            {
                "date": day,
                "messages": row.messages if row else 0,
                "conversations": row.conversations if row else 0,
            }
        )
    return days
