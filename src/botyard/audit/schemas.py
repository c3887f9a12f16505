from __future__ import annotations

from typing import Any

from ninja import Field, Schema


class TargetOut(Schema):
    type: str
    id: str
    label: str


class AuditEventOut(Schema):
    id: str
    # Text, as audit.export.event_dict writes it: a datetime here would go out through
    # Ninja's JSON encoder, which cuts it to milliseconds, unlike the export and the chain.
    occurred_at: str = Field(json_schema_extra={"format": "date-time"})
    actor_email: str
    action: str
    target: TargetOut
    event: str
    details: dict[str, Any]
    ip: str


class AuditListOut(Schema):
    items: list[AuditEventOut]
    next_cursor: str | None
