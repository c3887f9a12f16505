"""Indexes for audit search (bench/audit.py, docs/benchmarks.md "Audit").

audit_ws_filters holds every filtered column, so that selectors._page_keys finds the keys
of the events in a date range (or matching several filters) from the index alone; it
starts with (workspace, occurred_at) and so replaces audit_ws_time.

On PostgreSQL, a trigram index serves the case-insensitive email substring filter
(`UPPER(actor_email::text) LIKE UPPER('%…%')`, Django's icontains) when few events match,
and gives the planner statistics for that expression. pg_trgm is a trusted extension
(PostgreSQL 13+), so the database owner may create it. SQLite has no such index; there
the filter is read from audit_ws_filters.
"""

from django.db import migrations, models

CREATE_TRIGRAM = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS audit_email_trgm ON audit_auditevent
    USING gin (UPPER(actor_email::text) gin_trgm_ops);
"""
# The extension stays: other tables may come to use it.
DROP_TRIGRAM = "DROP INDEX IF EXISTS audit_email_trgm;"


def _on_postgresql(sql: str):  # type: ignore[no-untyped-def]
    def apply(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0002_append_only_trigger'),
        ('workspaces', '0003_workspace_past_due_workspace_pending_plan'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['workspace', 'occurred_at', 'seq', 'action', 'target_type', 'actor_email'], name='audit_ws_filters'),
        ),
        migrations.RemoveIndex(
            model_name='auditevent',
            name='audit_ws_time',
        ),
        migrations.RunPython(_on_postgresql(CREATE_TRIGRAM), _on_postgresql(DROP_TRIGRAM)),
    ]
