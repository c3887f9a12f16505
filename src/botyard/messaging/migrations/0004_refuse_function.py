"""PostgreSQL: botyard_refuse(reason), which the message statement calls to undo itself
(messaging.statements, ADR 0008). SQLite needs none: its steps run in a transaction."""

from __future__ import annotations

from typing import Any

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION botyard_refuse(reason text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = reason;
END
$$
"""
DROP = "DROP FUNCTION IF EXISTS botyard_refuse(text)"


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("messaging", "0003_fewer_indexes_per_message")]

    operations = [migrations.RunPython(create, drop)]
