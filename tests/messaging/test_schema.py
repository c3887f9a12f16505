"""The indexes a stored message writes (ADR 0009): each is one more page for every
message, so the set is pinned here."""

from __future__ import annotations

import pytest
from django.db import connection

from botyard.messaging.models import Message

pytestmark = pytest.mark.django_db


def _indexed_columns(table: str) -> set[tuple[str, ...]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {
        tuple(found["columns"])
        for found in constraints.values()
        if found["index"] or found["unique"] or found["primary_key"]
    }


def test_a_message_writes_four_indexes() -> None:
    assert _indexed_columns(Message._meta.db_table) == {
        ("id",),  # the primary key
        ("bot_id", "idempotency_key"),  # replays, and the bot's messages
        ("workspace_id", "period_start"),  # a workspace's messages in a period
        ("conversation_id", "received_at"),  # a conversation's messages
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's pattern index")
def test_no_pattern_index_beside_the_message_id() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY indexname",
            [Message._meta.db_table],
        )
        names = [row[0] for row in cursor.fetchall()]
    assert len(names) == 4
    assert not [name for name in names if name.endswith("_like")]
