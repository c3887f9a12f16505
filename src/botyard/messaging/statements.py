"""The SQL of the message hot path, written out once.

Building a query through the ORM, and even running one through Django's cursor wrappers,
costs the worker more than the database spends answering it (docs/benchmarks.md, Ingest),
and a message runs five of them. These are plain SQL on the driver's own cursor, portable
between SQLite (3.35 or newer, for RETURNING) and PostgreSQL. Table and column names come
from the models, so a renamed field breaks loudly here rather than silently. Everything
else (the rules: which cap, which error, what is stored) stays in messaging.services.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from enum import Enum
from functools import cache, cached_property
from typing import Any, TypeVar

from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.db.models import Model
from django.utils.dateparse import parse_datetime

from botyard.bots.models import Bot, BotKey
from botyard.messaging.models import Conversation, DailyBotStats, Message, UsageCounter
from botyard.messaging.writer import writer_turn
from botyard.workspaces.models import Workspace

# The workspace columns the rules need (the cap, the bill), in the model's field order as
# Model.from_db wants them; the others stay deferred.
WORKSPACE_FIELDS = (
    "id", "plan", "plan_started_at", "custom_message_limit", "custom_price_cents",
    "budget_cents",
)  # fmt: skip
T = TypeVar("T")
COUNTER_FLAGS = (
    "alerted_messages_75", "alerted_messages_100", "alerted_budget_75", "alerted_budget_100",
)  # fmt: skip


@dataclass(frozen=True)
class Sender:
    """The bot key a message came with, its bot and workspace, and what the bot already
    stored under the message's idempotency key."""

    key_id: str
    key_digest: str
    bot_id: str
    key_last_used_at: dt.datetime | None
    published_version: int | None
    workspace: Workspace
    stored: tuple[str, dict[str, Any]] | None  # (request digest, response)

    @cached_property
    def checked_params(self) -> tuple[Any, ...]:
        """The parameters of _checked_sql(): worked out once, as a known sender is used for
        many messages (cached_property writes past the frozen dataclass's __setattr__)."""
        workspace = self.workspace
        values = [getattr(workspace, name) for name in WORKSPACE_FIELDS]
        values[WORKSPACE_FIELDS.index("plan_started_at")] = db_datetime(workspace.plan_started_at)
        return (self.key_id, self.key_digest, self.published_version, *values)


@dataclass(frozen=True)
class Count:
    """The period's counter after one more message."""

    counter_id: int
    used: int
    already_alerted: frozenset[str]


def _db() -> Any:
    """This thread's connection wrapper. `connection` looks it up again on every
    attribute read, which the hot path does dozens of times a message."""
    return connections[DEFAULT_DB_ALIAS]


@cache  # one database per process
def _sqlite() -> bool:
    return bool(connection.vendor == "sqlite")


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


@cache
def _qmark(sql: str) -> str:
    """sqlite3's own parameter style (the statements here hold no literal %)."""
    return sql.replace("%s", "?")


class _DriverCursor:
    """The driver's cursor behind Django's connection, taking Django's %s placeholders.

    On PostgreSQL it binds parameters on the server and prepares each statement once per
    connection (connections are kept, CONN_MAX_AGE): parsing and planning the statements
    below cost the database more than running them. Django's own cursors bind on the
    client, which cannot be prepared."""

    def __init__(self, raw_connection: Any, vendor: str) -> None:
        self.qmark = vendor == "sqlite"
        if vendor == "postgresql":
            import psycopg

            self.cursor = psycopg.Cursor(raw_connection)
            self.options: dict[str, Any] = {"prepare": True}
        else:
            self.cursor = raw_connection.cursor()
            self.options = {}

    def execute(self, sql: str, params: Sequence[Any]) -> None:
        self.cursor.execute(_qmark(sql) if self.qmark else sql, params, **self.options)

    def fetchone(self) -> Any:
        return self.cursor.fetchone()

    @property
    def rowcount(self) -> int:
        return int(self.cursor.rowcount)

    def close(self) -> None:
        self.cursor.close()


@contextmanager
def _cursor() -> Iterator[Any]:
    """The driver's cursor, its errors translated to Django's (IntegrityError …). Where
    Django records queries (tests, DEBUG) it is Django's own cursor, so that they count."""
    db = _db()
    if db.queries_logged:
        with db.cursor() as cursor:
            yield cursor
        return
    db.ensure_connection()
    with db.wrap_database_errors:
        driver = _DriverCursor(db.connection, db.vendor)
        try:
            yield driver
        finally:
            driver.close()


def db_datetime(value: dt.datetime) -> Any:
    """A datetime as the backend stores it: on SQLite the text Django's adapter writes
    (str() of the naive UTC time), computed here without the adapter's detours."""
    if not _sqlite():
        return value
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return str(value)


def db_date(value: dt.date) -> Any:
    """A date as the backend stores it (ISO text on SQLite)."""
    return str(value) if _sqlite() else value


def _from_db_datetime(value: Any) -> dt.datetime | None:
    """PostgreSQL gives aware datetimes; SQLite naive UTC ones (or text)."""
    if value is None:
        return None
    parsed = value if isinstance(value, dt.datetime) else parse_datetime(value)
    assert parsed is not None, value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _from_db_json(value: Any) -> Any:
    # Django has psycopg read jsonb as text, and sqlite3 has no JSON type.
    return json.loads(value) if isinstance(value, str) else value


@cache
def _sender_sql() -> str:
    key, bot, workspace, message = _table(BotKey), _table(Bot), _table(Workspace), _table(Message)
    return (
        f"SELECT k.{_column(BotKey, 'id')}, k.{_column(BotKey, 'bot_id')}, "
        f"k.{_column(BotKey, 'last_used_at')}, b.{_column(Bot, 'published_version')}, "
        f"{_columns('w', Workspace, WORKSPACE_FIELDS)}, "
        f"m.{_column(Message, 'request_digest')}, m.{_column(Message, 'response')} "
        f"FROM {key} k "
        f"JOIN {bot} b ON b.{_column(Bot, 'id')} = k.{_column(BotKey, 'bot_id')} "
        f"JOIN {workspace} w ON w.{_column(Workspace, 'id')} = b.{_column(Bot, 'workspace_id')} "
        # No key (NULL) matches no row: = is never true for NULL.
        f"LEFT JOIN {message} m ON m.{_column(Message, 'bot_id')} = k.{_column(BotKey, 'bot_id')} "
        f"AND m.{_column(Message, 'idempotency_key')} = %s "
        f"WHERE k.{_column(BotKey, 'digest')} = %s"
    )


def once_more_if_dropped(run: Callable[[], T]) -> T:
    """`run()`, and once more on a new connection when the kept one turns out to be one
    the server dropped (a restart, a failover). A message's first statement does this
    instead of Django's health check, a `SELECT 1` before every request's first query.

    Repeating is safe for the lookup, a read, and for the write: the write stores the
    message under the id it was given, so a second attempt after a first that did commit
    fails on that id and changes nothing (services._store_and_count)."""
    try:
        return run()
    except (InterfaceError, OperationalError):
        if connection.in_atomic_block or connection.is_usable():
            raise  # not a dropped connection, or one a transaction depends on
        connection.close()
        return run()


def _sender_row(digest: str, idempotency_key: str | None) -> Any:
    with _cursor() as cursor:
        cursor.execute(_sender_sql(), [idempotency_key, digest])
        return cursor.fetchone()


def sender(digest: str, idempotency_key: str | None) -> Sender | None:
    """The key of this digest, with its bot, workspace and the message stored under
    `idempotency_key`, in one query; None when no key has this digest.

    A message's first query when its sender is not yet known to this process (see
    once_more_if_dropped)."""
    row = once_more_if_dropped(lambda: _sender_row(digest, idempotency_key))
    if row is None:
        return None
    workspace_values = list(row[4 : 4 + len(WORKSPACE_FIELDS)])
    workspace_values[2] = _from_db_datetime(workspace_values[2])
    request_digest, response = row[4 + len(WORKSPACE_FIELDS) :]
    return Sender(
        key_id=row[0],
        key_digest=digest,
        bot_id=row[1],
        key_last_used_at=_from_db_datetime(row[2]),
        published_version=row[3],
        workspace=Workspace.from_db(connection.alias, WORKSPACE_FIELDS, workspace_values),
        stored=None if request_digest is None else (request_digest, _from_db_json(response)),
    )


def stored_answer(bot_id: str, idempotency_key: str) -> tuple[str, dict[str, Any]] | None:
    """(request digest, response) of the message this bot stored under this key."""
    sql = (
        f"SELECT {_column(Message, 'request_digest')}, {_column(Message, 'response')} "
        f"FROM {_table(Message)} "
        f"WHERE {_column(Message, 'bot_id')} = %s AND {_column(Message, 'idempotency_key')} = %s"
    )
    with _cursor() as cursor:
        cursor.execute(sql, [bot_id, idempotency_key])
        row = cursor.fetchone()
    return None if row is None else (row[0], _from_db_json(row[1]))


@cache
def _checked_sql() -> str:
    """`FROM … WHERE …` giving one row while the sender's key, bot and workspace are as
    the rules saw them (Sender): the key not revoked, no other version published, the
    plan, its terms and the budget unchanged; no row once any of them has changed."""
    key, bot, workspace = _table(BotKey), _table(Bot), _table(Workspace)
    same = "IS NOT DISTINCT FROM" if connection.vendor == "postgresql" else "IS"
    conditions = [
        f"k.{_column(BotKey, 'id')} = %s", f"k.{_column(BotKey, 'digest')} = %s",
        f"b.{_column(Bot, 'published_version')} = %s",
    ] + [f"w.{_column(Workspace, name)} {same} %s" for name in WORKSPACE_FIELDS]  # fmt: skip
    return (
        f"FROM {key} k "
        f"JOIN {bot} b ON b.{_column(Bot, 'id')} = k.{_column(BotKey, 'bot_id')} "
        f"JOIN {workspace} w ON w.{_column(Workspace, 'id')} = b.{_column(Bot, 'workspace_id')} "
        f"WHERE {' AND '.join(conditions)}"
    )


def _checked_params(sender: Sender) -> list[Any]:
    return list(sender.checked_params)


def still_as_seen(sender: Sender) -> bool:
    """Whether the key, bot and workspace are still as `sender` describes them."""

    def read() -> bool:
        with _cursor() as cursor:
            cursor.execute(f"SELECT 1 {_checked_sql()}", _checked_params(sender))
            return cursor.fetchone() is not None

    return once_more_if_dropped(read)


@cache
def _count_sql(capped: bool, source: str) -> str:
    """One more message in the period's counter, the row made by the period's first
    message, unless it is at the cap; counted only when `source` (FROM … WHERE …) has a
    row."""
    counter = _table(UsageCounter)
    messages = _column(UsageCounter, "messages")
    flags = [_column(UsageCounter, flag) for flag in COUNTER_FLAGS]
    columns = ", ".join(
        [_column(UsageCounter, name) for name in ("workspace_id", "period_start", "period_end")]
        + [messages, *flags]
    )
    marks = ", ".join(["%s"] * (4 + len(flags)))
    # The WHERE in `source` also tells SQLite that ON begins the upsert, not a join.
    sql = (
        f"INSERT INTO {counter} ({columns}) SELECT {marks} {source} "
        f"ON CONFLICT ({_column(UsageCounter, 'workspace_id')}, "
        f"{_column(UsageCounter, 'period_start')}) "
        f"DO UPDATE SET {messages} = {counter}.{messages} + 1"
    )
    if capped:
        sql += f" WHERE {counter}.{messages} < %s"
    sql += f" RETURNING {_column(UsageCounter, 'id')}, {messages}, {', '.join(flags)}"
    return sql


def _count_params(message: NewMessage) -> list[Any]:
    params: list[Any] = [
        message.workspace_id, db_datetime(message.period_start),
        db_datetime(message.period_end), 1,
    ]  # fmt: skip
    return params + [False] * len(COUNTER_FLAGS)


def _count_of(row: Sequence[Any]) -> Count:
    """A Count from (counter id, messages, the flags…)."""
    flags = row[2 : 2 + len(COUNTER_FLAGS)]
    already = frozenset(flag for flag, value in zip(COUNTER_FLAGS, flags, strict=True) if value)
    return Count(counter_id=row[0], used=row[1], already_alerted=already)


@cache
def _add_to_count_sql(capped: bool) -> str:
    """SQLite: one more message in the period's existing counter, unless it is at the cap
    or the sender has changed.

    An UPDATE rather than the upsert of _count_sql: SQLite ends every INSERT into a table
    with an AUTOINCREMENT key (Django's) by rewriting that table's row of sqlite_sequence,
    also when ON CONFLICT turned the insert into an update, which made one more page to
    write a message."""
    counter = _table(UsageCounter)
    messages = _column(UsageCounter, "messages")
    flags = ", ".join(_column(UsageCounter, flag) for flag in COUNTER_FLAGS)
    sql = (
        f"UPDATE {counter} SET {messages} = {messages} + 1 "
        f"WHERE {_column(UsageCounter, 'workspace_id')} = %s "
        f"AND {_column(UsageCounter, 'period_start')} = %s "
        f"AND EXISTS (SELECT 1 {_checked_sql()})"
    )
    if capped:
        sql += f" AND {messages} < %s"
    return sql + f" RETURNING {_column(UsageCounter, 'id')}, {messages}, {flags}"


def count_message(
    cursor: Any, message: NewMessage, cap: int | None, sender: Sender
) -> Count | None:
    """SQLite: one more message in the period's counter, unless it is at `cap` or the
    sender has changed (None for both). The counter stays locked until COMMIT.

    The counter is updated; only when that counts nothing (no counter yet this period,
    or one of the refusals) is the upsert run, which makes the period's counter, or
    finds the same refusal."""
    checked = _checked_params(sender)
    tail = [] if cap is None else [cap]
    cursor.execute(
        _add_to_count_sql(cap is not None),
        [message.workspace_id, db_datetime(message.period_start), *checked, *tail],
    )
    row = cursor.fetchone()
    if row is None:
        cursor.execute(
            _count_sql(cap is not None, _checked_sql()), _count_params(message) + checked + tail
        )
        row = cursor.fetchone()
    return None if row is None else _count_of(row)


@cache
def _conversation_sql() -> str:
    return (
        f"SELECT 1 FROM {_table(Conversation)} "
        f"WHERE {_column(Conversation, 'id')} = %s AND {_column(Conversation, 'bot_id')} = %s"
    )


def has_conversation(cursor: Any, conversation_id: str, bot_id: str) -> bool:
    """SQLite: whether the bot has this conversation (read inside the transaction, which
    holds the database's write lock, so that no one can delete it before COMMIT)."""
    cursor.execute(_conversation_sql(), [conversation_id, bot_id])
    return cursor.fetchone() is not None


@cache
def _insert_sql(model: type[Model], attnames: tuple[str, ...]) -> str:
    columns = ", ".join(_column(model, name) for name in attnames)
    marks = ", ".join(["%s"] * len(attnames))
    return f"INSERT INTO {_table(model)} ({columns}) VALUES ({marks})"


def _insert(cursor: Any, model: type[Model], values: dict[str, Any]) -> None:
    cursor.execute(_insert_sql(model, tuple(values)), list(values.values()))


def insert_conversation(
    cursor: Any, conversation_id: str, workspace_id: str, bot_id: str, end_user_id: str,
    now: dt.datetime,
) -> None:  # fmt: skip
    moment = db_datetime(now)
    _insert(
        cursor,
        Conversation,
        {
            "id": conversation_id, "workspace_id": workspace_id, "bot_id": bot_id,
            "end_user_id": end_user_id, "started_at": moment,
        },
    )  # fmt: skip


def insert_message(cursor: Any, values: dict[str, Any]) -> None:
    """`values` by attname; datetimes and the JSON response are adapted here."""
    row = dict(values)
    for name in ("received_at", "period_start"):
        row[name] = db_datetime(row[name])
    row["response"] = json.dumps(row["response"])
    _insert(cursor, Message, row)


@cache
def _daily_sql() -> str:
    stats = _table(DailyBotStats)
    messages = _column(DailyBotStats, "messages")
    conversations = _column(DailyBotStats, "conversations")
    columns = ", ".join(_column(DailyBotStats, name) for name in ("workspace_id", "bot_id", "day"))
    return (
        f"INSERT INTO {stats} ({columns}, {messages}, {conversations}) VALUES (%s, %s, %s, 1, %s) "
        f"ON CONFLICT ({_column(DailyBotStats, 'bot_id')}, {_column(DailyBotStats, 'day')}) "
        f"DO UPDATE SET {messages} = {stats}.{messages} + 1, "
        f"{conversations} = {stats}.{conversations} + excluded.{conversations}"
    )


@cache
def _add_to_day_sql() -> str:
    """SQLite: the bot's existing row of the day, one message (and conversation) more;
    an UPDATE for the reason given at _add_to_count_sql."""
    messages = _column(DailyBotStats, "messages")
    conversations = _column(DailyBotStats, "conversations")
    return (
        f"UPDATE {_table(DailyBotStats)} SET {messages} = {messages} + 1, "
        f"{conversations} = {conversations} + %s "
        f"WHERE {_column(DailyBotStats, 'bot_id')} = %s AND {_column(DailyBotStats, 'day')} = %s"
    )


def count_in_daily_stats(
    cursor: Any, workspace_id: str, bot_id: str, day: dt.date, started_conversation: bool
) -> None:
    """SQLite: add the message (and the conversation it started) to the bot's day; the
    day's first message makes the row."""
    started, on = int(started_conversation), db_date(day)
    cursor.execute(_add_to_day_sql(), [started, bot_id, on])
    if cursor.rowcount == 0:
        cursor.execute(_daily_sql(), [workspace_id, bot_id, on, started])


@dataclass(frozen=True)
class NewMessage:
    """One message to store and count, every value as the rules decided it."""

    message_id: str
    workspace_id: str
    bot_id: str
    conversation_id: str
    started_conversation: bool  # a new conversation of this id, else an existing one
    end_user_id: str
    text: str
    reply: str
    bot_version: int
    received_at: dt.datetime
    period_start: dt.datetime
    period_end: dt.datetime
    idempotency_key: str | None
    request_digest: str
    included: int  # the "limit" of the stored answer


def response_of(message: NewMessage, used: int) -> dict[str, Any]:
    """The answer to the message, as it is sent and stored for replays."""
    return {
        "message_id": message.message_id,
        "conversation_id": message.conversation_id,
        "reply": {"text": message.reply},
        "usage": {"used": used, "limit": message.included},
    }


class Outcome(Enum):
    STORED = "stored"  # counted and stored
    AT_CAP = "at_cap"  # the counter is at the cap: nothing written
    NO_CONVERSATION = "no_conversation"  # the bot has no such conversation: nothing written
    CHANGED = "changed"  # the key, bot or workspace changed since it was read: nothing written


@dataclass(frozen=True)
class Written:
    outcome: Outcome
    count: Count | None = None  # the counter after the message, when STORED
    resent: bool = False  # sent again on a new connection (once_more_if_dropped)


# Raised by the statement of data-modifying CTEs when it has counted a message whose
# conversation it did not find, which makes PostgreSQL undo the whole statement.
REFUSE_FUNCTION = "botyard_refuse"
CONVERSATION_NOT_FOUND = "conversation_not_found"


@cache
def _store_and_count_sql(capped: bool, started_conversation: bool) -> str:
    """PostgreSQL: the check of the sender, the counter, the conversation, the message
    and the day in one statement of data-modifying CTEs, each step conditional on the one
    before. It is its own transaction: one round trip in all, and the counter's row is
    locked for that one statement."""
    conversation = _table(Conversation)
    stats, message = _table(DailyBotStats), _table(Message)
    used = _column(UsageCounter, "messages")
    flags = ", ".join(f"counted.{_column(UsageCounter, flag)}" for flag in COUNTER_FLAGS)
    count = _count_sql(capped, "FROM checked WHERE true")
    if started_conversation:
        conversation_step = (
            f"INSERT INTO {conversation} ({_column(Conversation, 'id')}, "
            f"{_column(Conversation, 'workspace_id')}, {_column(Conversation, 'bot_id')}, "
            f"{_column(Conversation, 'end_user_id')}, {_column(Conversation, 'started_at')}) "
            f"SELECT %s, %s, %s, %s, %s FROM counted RETURNING {_column(Conversation, 'id')}"
        )
    else:
        # Locked as the message's foreign key will lock it: a conversation being deleted
        # (with its bot) is waited for, then not found, rather than found and then gone
        # when the message is checked against it.
        conversation_step = (
            f"SELECT {_column(Conversation, 'id')} FROM {conversation} "
            f"WHERE {_column(Conversation, 'id')} = %s AND {_column(Conversation, 'bot_id')} = %s "
            f"AND EXISTS (SELECT 1 FROM counted) FOR KEY SHARE"
        )
    message_columns = ", ".join(
        _column(Message, name)
        for name in (
            "id", "workspace_id", "bot_id", "conversation_id", "end_user_id", "text", "reply",
            "bot_version", "received_at", "period_start", "idempotency_key", "request_digest",
            "response",
        )
    )  # fmt: skip
    response = (
        "jsonb_build_object('message_id', %s::text, 'conversation_id', %s::text, "
        "'reply', jsonb_build_object('text', %s::text), "
        f"'usage', jsonb_build_object('used', counted.{used}, 'limit', %s::bigint))"
    )
    day_messages = _column(DailyBotStats, "messages")
    day_conversations = _column(DailyBotStats, "conversations")
    day_columns = ", ".join(
        _column(DailyBotStats, name) for name in ("workspace_id", "bot_id", "day")
    )
    return (
        f"WITH checked AS (SELECT 1 {_checked_sql()}), "
        f"counted AS ({count}), "
        f"conv AS ({conversation_step}), "
        f"stored AS (INSERT INTO {message} ({message_columns}) "
        f"SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, {response} "
        f"FROM counted, conv), "
        f"daily AS (INSERT INTO {stats} ({day_columns}, {day_messages}, {day_conversations}) "
        f"SELECT %s, %s, %s, 1, %s FROM conv "
        f"ON CONFLICT ({_column(DailyBotStats, 'bot_id')}, {_column(DailyBotStats, 'day')}) "
        f"DO UPDATE SET {day_messages} = {stats}.{day_messages} + 1, "
        f"{day_conversations} = {stats}.{day_conversations} + excluded.{day_conversations}) "
        f"SELECT counted.{_column(UsageCounter, 'id')}, counted.{used}, {flags}, "
        f"(SELECT count(*) FROM checked), "
        f"CASE WHEN counted.{_column(UsageCounter, 'id')} IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM conv) "
        f"THEN {REFUSE_FUNCTION}('{CONVERSATION_NOT_FOUND}') END "
        f"FROM (SELECT 1) AS one LEFT JOIN counted ON true"
    )


def _one_statement_params(message: NewMessage, cap: int | None, sender: Sender) -> list[Any]:
    received_at, period_start = db_datetime(message.received_at), db_datetime(message.period_start)
    params = _checked_params(sender) + _count_params(message)
    if cap is not None:
        params.append(cap)
    if message.started_conversation:
        params += [
            message.conversation_id, message.workspace_id, message.bot_id, message.end_user_id,
            received_at,
        ]  # fmt: skip
    else:
        params += [message.conversation_id, message.bot_id]
    params += [
        message.message_id, message.workspace_id, message.bot_id, message.conversation_id,
        message.end_user_id, message.text, message.reply, message.bot_version, received_at,
        period_start, message.idempotency_key, message.request_digest,
        message.message_id, message.conversation_id, message.reply, message.included,
        message.workspace_id, message.bot_id,
        db_date(message.received_at.date()),
        int(message.started_conversation),
    ]  # fmt: skip
    return params


def _refused_for(error: DatabaseError) -> str | None:
    """The reason REFUSE_FUNCTION raised `error` with; None for any other error."""
    cause = error.__cause__
    if getattr(cause, "sqlstate", None) != "P0001":  # raise_exception
        return None
    return getattr(getattr(cause, "diag", None), "message_primary", None)


def _store_and_count_row(sql: str, params: list[Any]) -> Any:
    # Inside a caller's transaction (a test's, say) a savepoint stands in for the
    # statement's own transaction, so that a refusal undoes the statement alone.
    scope = transaction.atomic() if connection.in_atomic_block else nullcontext()
    with scope, _cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def store_and_count_in_one_statement(
    message: NewMessage, cap: int | None, sender: Sender
) -> Written:
    """PostgreSQL only, as its own transaction (or a savepoint of the caller's)."""
    sql = _store_and_count_sql(cap is not None, message.started_conversation)
    params = _one_statement_params(message, cap, sender)
    attempts = []

    def attempt() -> Any:
        attempts.append(1)
        return _store_and_count_row(sql, params)

    try:
        row = once_more_if_dropped(attempt)
    except DatabaseError as error:
        if _refused_for(error) == CONVERSATION_NOT_FOUND:
            return Written(Outcome.NO_CONVERSATION, resent=len(attempts) > 1)
        raise
    resent = len(attempts) > 1
    checked = row[-2] == 1
    if row[0] is None:
        return Written(Outcome.AT_CAP if checked else Outcome.CHANGED, resent=resent)
    return Written(Outcome.STORED, _count_of(row), resent=resent)


def store_and_count_in_steps(message: NewMessage, cap: int | None, sender: Sender) -> Written:
    """SQLite: the same as store_and_count_in_one_statement, as four statements in the
    transaction of message_transaction() (SQLite has no data-modifying CTEs; its
    statements cost no round trip)."""
    db = _db()
    raw = db.connection
    assert db.in_atomic_block or (raw is not None and raw.in_transaction), (
        "inside message_transaction()"
    )
    with _cursor() as cursor:
        counted = count_message(cursor, message, cap, sender)
        if counted is None:
            return _not_counted(sender)
        if message.started_conversation:
            insert_conversation(
                cursor, message.conversation_id, message.workspace_id, message.bot_id,
                message.end_user_id, message.received_at,
            )  # fmt: skip
        elif not has_conversation(cursor, message.conversation_id, message.bot_id):
            _undo_transaction()  # takes the count back
            return Written(Outcome.NO_CONVERSATION)
        insert_message(
            cursor,
            {
                "id": message.message_id, "workspace_id": message.workspace_id,
                "bot_id": message.bot_id, "conversation_id": message.conversation_id,
                "end_user_id": message.end_user_id, "text": message.text,
                "reply": message.reply, "bot_version": message.bot_version,
                "received_at": message.received_at, "period_start": message.period_start,
                "idempotency_key": message.idempotency_key,
                "request_digest": message.request_digest,
                "response": response_of(message, counted.used),
            },
        )  # fmt: skip
        count_in_daily_stats(
            cursor, message.workspace_id, message.bot_id, message.received_at.date(),
            message.started_conversation,
        )  # fmt: skip
    return Written(Outcome.STORED, counted)


def _undo_transaction() -> None:
    """SQLite: undo what message_transaction()'s transaction has written so far."""
    if connection.in_atomic_block:
        transaction.set_rollback(True)
        return
    with connection.wrap_database_errors:
        connection.connection.execute("ROLLBACK")


def _roll_back(raw: Any) -> None:
    """End the raw transaction after an error; a connection that cannot say or do that
    is closed rather than kept (CONN_MAX_AGE) with SQLite's write lock held."""
    try:
        if raw.in_transaction:
            raw.execute("ROLLBACK")
    except Exception:
        connection.close()


@contextmanager
def _sqlite_transaction() -> Iterator[None]:
    """BEGIN IMMEDIATE … COMMIT on the driver's connection: what transaction.atomic()
    does, without its bookkeeping, for the one transaction of the message path. Inside
    a caller's transaction (tests, the demo loader) atomic() is used, as a savepoint.

    Django does not see this transaction (it still reports autocommit), so nothing run
    inside may use Django's transaction API: no atomic(), no on_commit(); the message
    path's statements (this module) do not."""
    db = _db()
    if db.in_atomic_block:
        with transaction.atomic():
            yield
        return
    db.ensure_connection()
    raw = db.connection
    try:
        with db.wrap_database_errors:
            raw.execute("BEGIN IMMEDIATE")
        yield
        if raw.in_transaction:  # not undone
            with db.wrap_database_errors:
                raw.execute("COMMIT")
    except BaseException:
        _roll_back(raw)  # the error that brought us here is the one raised
        raise


@contextmanager
def message_transaction() -> Iterator[None]:
    """What store_and_count runs in. SQLite: the writer's turn and a transaction, in
    which the caller reads the clock (it may have waited for the turn). PostgreSQL:
    nothing; the one statement is its own transaction."""
    if not _sqlite():
        yield
        return
    with writer_turn(), _sqlite_transaction():
        yield


def store_and_count(message: NewMessage, cap: int | None, sender: Sender) -> Written:
    """Check that the sender is still as it was read, count the message unless the
    counter is at `cap`, then store it with its conversation and add it to the day. Only
    an outcome of STORED leaves anything written. Call inside message_transaction()."""
    if cap is not None and cap < 1:  # the first message would already be one too many
        return _not_counted(sender)
    if not _sqlite():
        return store_and_count_in_one_statement(message, cap, sender)
    return store_and_count_in_steps(message, cap, sender)


def _not_counted(sender: Sender) -> Written:
    """Nothing counted: the counter is at the cap, or the sender has changed."""
    return Written(Outcome.AT_CAP if still_as_seen(sender) else Outcome.CHANGED)


def stored_response(message_id: str) -> dict[str, Any] | None:
    """The answer stored with this message, if it was stored."""
    sql = (
        f"SELECT {_column(Message, 'response')} FROM {_table(Message)} "
        f"WHERE {_column(Message, 'id')} = %s"
    )
    with _cursor() as cursor:
        cursor.execute(sql, [message_id])
        row = cursor.fetchone()
    return None if row is None else _from_db_json(row[0])
