"""On PostgreSQL, audit events are append-only in the database itself: UPDATE is refused,
and DELETE is refused unless the transaction is erasing that event's workspace
(workspaces.services.workspace_delete sets botyard.erasing_workspace for it). SQLite has
no such guard; `botyard audit verify` still detects any change there."""

from django.db import migrations

# %% is psycopg's escape for a literal % (the SQL is sent with an empty parameter list).
CREATE = """
CREATE OR REPLACE FUNCTION botyard_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('botyard.erasing_workspace', true) = OLD.workspace_id THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only (%% refused on event %%)', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION botyard_audit_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS botyard_audit_append_only();
"""


def _run(sql: str):  # type: ignore[no-untyped-def]
    def apply(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
