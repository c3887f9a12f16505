"""Streamed export of a filtered audit list as CSV or JSON Lines. Rows are read in chunks
and written as they come, so memory does not grow with the number of events."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from django.db import transaction

from botyard.audit.models import Action, AuditEvent, TargetType
from botyard.audit.selectors import AuditFilters, audit_queryset
from botyard.audit.services import audit_record
from botyard.core.actor import Actor
from botyard.core.errors import ValidationFailed
from botyard.workspaces.access import access_workspace, require
from botyard.workspaces.roles import Permission

FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
COLUMNS = (
    "id",
    "occurred_at",
    "actor_email",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "event",
    "details",
    "ip",
)
CHUNK = 2_000
# A spreadsheet treats a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def event_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "occurred_at": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "actor_email": event.actor_email,
        "action": event.action,
        "target": {"type": event.target_type, "id": event.target_id, "label": event.target_label},
        "event": event.event,
        "details": event.details,
        "ip": event.ip,
    }


def _csv_rows(events: Iterator[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        value = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return value

    writer.writerow(COLUMNS)
    yield flush()
    for event in events:
        row = event_dict(event)
        cells = [
            row["id"],
            row["occurred_at"],
            row["actor_email"],
            row["action"],
            event.target_type,
            event.target_id,
            event.target_label,
            row["event"],
            json.dumps(row["details"], ensure_ascii=False, sort_keys=True),
            row["ip"],
        ]
        writer.writerow([neutralise(str(c)) for c in cells])
        yield flush()


def _jsonl_rows(events: Iterator[AuditEvent]) -> Iterator[str]:
    for event in events:
        yield json.dumps(event_dict(event), ensure_ascii=False) + "\n"


def audit_export(
    *, actor: Actor, workspace_id: str, filters: AuditFilters, format: str
) -> tuple[Iterator[str], str]:
    """Records the download, then returns the rows (lazily) and their content type."""
    if format not in FORMATS:
        raise ValidationFailed.field(
            "format", "Use format=csv or format=jsonl.", code="invalid_format"
        )
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id)
        require(access, Permission.AUDIT_VIEW)
        audit_record(
            workspace=access.workspace,
            actor=actor,
            action=Action.DOWNLOADED,
            target_type=TargetType.CONFIGURATION,
            target_id=access.workspace.id,
            target_label=access.workspace.name,
            event="audit.exported",
            details={"format": format, "filters": filters.as_query()},
        )
    events = audit_queryset(access=access, filters=filters).order_by("-seq").iterator(CHUNK)
    rows = _csv_rows(events) if format == "csv" else _jsonl_rows(events)
    return rows, FORMATS[format]
