"""Audit search by the actor directory and by seq windows (audit.selectors.audit_search).

AuditActor lists each actor address of a workspace once, filled here from the events so
far; AuditChainHead.occurred_at holds the newest event's time, from which on no event is
stamped earlier, so that a date range is a range of seq. The search no longer reads the
audit_ws_filters index or, on PostgreSQL, the trigram index of 0003.
"""

import django.db.models.deletion
from django.db import migrations, models

FILL_ACTORS = """
INSERT INTO audit_auditactor (workspace_id, email)
SELECT DISTINCT workspace_id, actor_email FROM audit_auditevent
"""
FILL_HEAD_TIMES = """
UPDATE audit_auditchainhead SET occurred_at = (
    SELECT MAX(e.occurred_at) FROM audit_auditevent e
    WHERE e.workspace_id = audit_auditchainhead.workspace_id
)
"""


def _drop_trigram_index(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS audit_email_trgm")


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0003_search_indexes'),
        ('workspaces', '0003_workspace_past_due_workspace_pending_plan'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditActor',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('email', models.CharField(max_length=254)),
            ],
        ),
        migrations.RemoveIndex(
            model_name='auditevent',
            name='audit_ws_action',
        ),
        migrations.RemoveIndex(
            model_name='auditevent',
            name='audit_ws_filters',
        ),
        migrations.AddField(
            model_name='auditchainhead',
            name='occurred_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['workspace', 'action', '-seq', 'target_type'], name='audit_ws_action'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['workspace', 'actor_email', '-seq', 'action', 'target_type'], name='audit_ws_actor'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['workspace', 'occurred_at', 'seq'], name='audit_ws_time'),
        ),
        migrations.AddField(
            model_name='auditactor',
            name='workspace',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='workspaces.workspace'),
        ),
        migrations.AddConstraint(
            model_name='auditactor',
            constraint=models.UniqueConstraint(fields=('workspace', 'email'), name='audit_actor_unique'),
        ),
        migrations.RunSQL(FILL_ACTORS, migrations.RunSQL.noop),
        migrations.RunSQL(FILL_HEAD_TIMES, migrations.RunSQL.noop),
        migrations.RunPython(_drop_trigram_index, migrations.RunPython.noop),
    ]
