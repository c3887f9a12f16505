"""Audit reads."""

from __future__ import annotations

from botyard.audit.models import AuditEvent
from botyard.core.pagination import Page, paginate
from botyard.workspaces.access import Access, require
from botyard.workspaces.roles import Permission


def audit_page(*, access: Access, cursor: str | None, limit: int | None) -> Page[AuditEvent]:
    require(access, Permission.AUDIT_VIEW)
    return paginate(
        AuditEvent.objects.filter(workspace=access.workspace),
        order=("-seq",),
        cursor=cursor,
        limit=limit,
        datetime_fields=frozenset(),
    )
