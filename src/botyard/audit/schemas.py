from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema


class TargetOut(Schema):
    type: str
    id: str
    label: str


class AuditEventOut(Schema):
    id: str
    occurred_at: dt.datetime
    actor_email: str
    action: str
    target: TargetOut
    event: str
    details: dict[str, Any]
    ip: str


class AuditListOut(Schema):
    items: list[AuditEventOut]
    next_cursor: str | None
