"""The SQL of the message hot path, written out once.

Building a query through the ORM costs the worker several times what the database spends
answering it (docs/benchmarks.md, Ingest), and a message runs about eight of them. These
are the same statements as plain SQL on a cursor, portable between SQLite (3.35 or newer,
for RETURNING) and PostgreSQL. Table and column names come from the models, so a renamed
field breaks loudly here rather than silently. Everything else (the rules: which cap,
which error, what is stored) stays in messaging.services.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Model
from django.utils.dateparse import parse_datetime

from botyard.bots.models import Bot, BotKey
from botyard.messaging.models import Conversation, DailyBotStats, Message, UsageCounter
from botyard.workspaces.models import Workspace

# The columns each hot-path model is loaded with; the others stay deferred (an access
# would load them with a query of its own, which the ingest tests would show).
KEY_FIELDS = ("id", "bot_id", "last_used_at")
BOT_FIELDS = ("id", "workspace_id", "published_version")
WORKSPACE_FIELDS = (
    "id", "plan", "plan_started_at", "budget_cents", "custom_message_limit",
    "custom_price_cents",
)  # fmt: skip
COUNTER_FLAGS = (
    "alerted_messages_75", "alerted_messages_100", "alerted_budget_75", "alerted_budget_100",
)  # fmt: skip


@cache  # one database per process: names are quoted the same way each time
def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@cache
def _column(model: type[Model], attname: str) -> str:
    # attname -> the field's column ("bot_id" is the column of the "bot" foreign key).
    for field in model._meta.concrete_fields:
        if field.attname == attname:
            assert field.column is not None
            return connection.ops.quote_name(field.column)
    raise LookupError(f"{model.__name__} has no column for {attname!r}")


def _columns(alias: str, model: type[Model], attnames: Sequence[str]) -> str:
    return ", ".join(f"{alias}.{_column(model, name)}" for name in attnames)


def db_datetime(value: dt.datetime) -> Any:
    """A datetime as the backend stores it (naive UTC text on SQLite)."""
    return connection.ops.adapt_datetimefield_value(value)


def _from_db_datetime(value: Any) -> dt.datetime | None:
    """PostgreSQL gives aware datetimes; SQLite naive UTC ones (or text)."""
    if value is None:
        return None
    parsed = value if isinstance(value, dt.datetime) else parse_datetime(value)
    assert parsed is not None, value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _instance(model: type[Model], attnames: Sequence[str], values: Sequence[Any]) -> Any:
    """A model instance of the loaded columns, in the concrete fields' order from_db wants."""
    by_name = dict(zip(attnames, values, strict=True))
    ordered = [f.attname for f in model._meta.concrete_fields if f.attname in by_name]
    return model.from_db(connection.alias, ordered, [by_name[name] for name in ordered])


@cache
def _key_sql() -> str:
    return (
        f"SELECT {_columns('k', BotKey, KEY_FIELDS)}, {_columns('b', Bot, BOT_FIELDS)}, "
        f"{_columns('w', Workspace, WORKSPACE_FIELDS)} "
        f"FROM {_table(BotKey)} k "
        f"JOIN {_table(Bot)} b ON b.{_column(Bot, 'id')} = k.{_column(BotKey, 'bot_id')} "
        f"JOIN {_table(Workspace)} w ON w.{_column(Workspace, 'id')} = "
        f"b.{_column(Bot, 'workspace_id')} "
        f"WHERE k.{_column(BotKey, 'digest')} = %s"
    )


def key_with_bot_and_workspace(digest: str) -> BotKey | None:
    """The key of this digest, with its bot and workspace (the columns above)."""
    with connection.cursor() as cursor:
        cursor.execute(_key_sql(), [digest])
        row = cursor.fetchone()
    if row is None:
        return None
    k, b = len(KEY_FIELDS), len(KEY_FIELDS) + len(BOT_FIELDS)
    key_values, bot_values, workspace_values = list(row[:k]), row[k:b], list(row[b:])
    key_values[2] = _from_db_datetime(key_values[2])
    workspace_values[2] = _from_db_datetime(workspace_values[2])
    key: BotKey = _instance(BotKey, KEY_FIELDS, key_values)
    bot: Bot = _instance(Bot, BOT_FIELDS, bot_values)
    bot.workspace = _instance(Workspace, WORKSPACE_FIELDS, workspace_values)
    key.bot = bot
    return key


def stored_answer(bot_id: str, idempotency_key: str) -> tuple[str, dict[str, Any]] | None:
    """(request digest, response) of the message this bot stored under this key."""
    sql = (
        f"SELECT {_column(Message, 'request_digest')}, {_column(Message, 'response')} "
        f"FROM {_table(Message)} "
        f"WHERE {_column(Message, 'bot_id')} = %s AND {_column(Message, 'idempotency_key')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [bot_id, idempotency_key])
        row = cursor.fetchone()
    if row is None:
        return None
    response = row[1]
    # Django reads jsonb as text on PostgreSQL too, and JSONField decodes it.
    return row[0], json.loads(response) if isinstance(response, str) else response


def count_message(
    workspace_id: str, period_start: dt.datetime, cap: int | None
) -> tuple[int, int, frozenset[str]] | None:
    """Add one to the period's counter unless it is at `cap`: (counter id, new count, alert
    flags already set), or None when no row was below the cap (or there is no row)."""
    messages = _column(UsageCounter, "messages")
    sql = (
        f"UPDATE {_table(UsageCounter)} SET {messages} = {messages} + 1 "
        f"WHERE {_column(UsageCounter, 'workspace_id')} = %s "
        f"AND {_column(UsageCounter, 'period_start')} = %s"
    )
    params: list[Any] = [workspace_id, db_datetime(period_start)]
    if cap is not None:
        sql += f" AND {messages} < %s"
        params.append(cap)
    flags = ", ".join(_column(UsageCounter, flag) for flag in COUNTER_FLAGS)
    sql += f" RETURNING {_column(UsageCounter, 'id')}, {messages}, {flags}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    already = frozenset(flag for flag, value in zip(COUNTER_FLAGS, row[2:], strict=True) if value)
    return row[0], row[1], already


def touch_conversation(conversation_id: str, bot_id: str, now: dt.datetime) -> bool:
    """Mark the bot's conversation as active now; False when the bot has no such one."""
    sql = (
        f"UPDATE {_table(Conversation)} SET {_column(Conversation, 'last_message_at')} = %s "
        f"WHERE {_column(Conversation, 'id')} = %s AND {_column(Conversation, 'bot_id')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [db_datetime(now), conversation_id, bot_id])
        return cursor.rowcount == 1


def _insert(model: type[Model], values: dict[str, Any]) -> None:
    columns = ", ".join(_column(model, name) for name in values)
    marks = ", ".join(["%s"] * len(values))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_table(model)} ({columns}) VALUES ({marks})", list(values.values())
        )


def insert_conversation(
    conversation_id: str, workspace_id: str, bot_id: str, end_user_id: str, now: dt.datetime
) -> None:
    moment = db_datetime(now)
    _insert(
        Conversation,
        {
            "id": conversation_id, "workspace_id": workspace_id, "bot_id": bot_id,
            "end_user_id": end_user_id, "started_at": moment, "last_message_at": moment,
        },
    )  # fmt: skip


def insert_message(values: dict[str, Any]) -> None:
    """`values` by attname; datetimes and the JSON response are adapted here."""
    row = dict(values)
    for name in ("received_at", "period_start"):
        row[name] = db_datetime(row[name])
    row["response"] = json.dumps(row["response"])
    _insert(Message, row)


def count_in_daily_stats(bot_id: str, day: dt.date, started_conversation: bool) -> bool:
    """Add the message (and the conversation it started) to the bot's day; False when
    the day has no row yet."""
    messages = _column(DailyBotStats, "messages")
    conversations = _column(DailyBotStats, "conversations")
    sql = (
        f"UPDATE {_table(DailyBotStats)} SET {messages} = {messages} + 1, "
        f"{conversations} = {conversations} + %s "
        f"WHERE {_column(DailyBotStats, 'bot_id')} = %s AND {_column(DailyBotStats, 'day')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [int(started_conversation), bot_id, connection.ops.adapt_datefield_value(day)]
        )
        return cursor.rowcount == 1
