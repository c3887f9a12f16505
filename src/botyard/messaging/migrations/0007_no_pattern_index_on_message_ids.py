"""PostgreSQL: drop the `varchar_pattern_ops` index Django adds beside the primary key of
a CharField id, for LIKE queries. Nothing searches message ids by pattern, and every
message would write it (ADR 0009). SQLite has no such index."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def _like_index(schema_editor: Any, model: Any) -> str:
    field = model._meta.get_field("id")
    return str(schema_editor._create_index_name(model._meta.db_table, [field.column], "_like"))


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        name = _like_index(schema_editor, apps.get_model("messaging", "Message"))
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        model = apps.get_model("messaging", "Message")
        schema_editor.execute(schema_editor._create_like_index_sql(model, model._meta.get_field("id")))


class Migration(migrations.Migration):
    dependencies = [("messaging", "0006_conversation_last_message_from_its_messages")]

    operations = [migrations.RunPython(drop, create)]
