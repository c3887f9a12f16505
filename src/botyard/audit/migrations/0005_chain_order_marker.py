"""AuditChainHead.ordered_after: the last event stamped earlier than an event before it.

Events written before migration 0004 were stamped from the clock as it was, so a clock
set back may have put a chain out of time order; this finds, per workspace, the last
event older than the newest before it (0: none), so that search filters such a chain by
time rather than by a window of seq (audit.selectors._seq_window).
"""

from django.db import migrations, models

FILL_ORDERED_AFTER = """
UPDATE audit_auditchainhead SET ordered_after = COALESCE((
    SELECT MAX(t.seq) FROM (
        SELECT e.seq, e.occurred_at, MAX(e.occurred_at) OVER (
            ORDER BY e.seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS newest_before
        FROM audit_auditevent e
        WHERE e.workspace_id = audit_auditchainhead.workspace_id
    ) t
    WHERE t.occurred_at < t.newest_before
), 0)
"""


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0004_search_by_actor_and_seq_window'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditchainhead',
            name='ordered_after',
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.RunSQL(FILL_ORDERED_AFTER, migrations.RunSQL.noop),
    ]
