from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router

from botyard.accounts.api import actor_of, current_user
from botyard.accounts.auth import user_auth
from botyard.audit import selectors
from botyard.audit.export import audit_export, event_dict
from botyard.audit.schemas import AuditListOut
from botyard.core import clock
from botyard.workspaces.access import access_workspace

router = Router(tags=["audits"], auth=user_auth)
AUDITS = "/workspaces/{workspace_id}/audits"


def _filters(
    email: str | None,
    action: list[str] | None,
    target: str | None,
    since: str | None,
    until: str | None,
) -> selectors.AuditFilters:
    return selectors.parse_filters(
        email=email, actions=action, target=target, since=since, until=until
    )


@router.get(AUDITS, response=AuditListOut)
def audit_list(
    request: HttpRequest,
    workspace_id: str,
    email: str | None = None,
    action: list[str] | None = Query(None),  # noqa: B008
    target: str | None = None,
    since: str | None = None,
    until: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    access = access_workspace(current_user(request), workspace_id)
    page = selectors.audit_search(
        access=access,
        filters=_filters(email, action, target, since, until),
        cursor=cursor,
        limit=limit,
    )
    return {"items": [event_dict(e) for e in page.items], "next_cursor": page.next_cursor}


@router.get(AUDITS + "/export", response={200: bytes})
def audit_export_download(
    request: HttpRequest,
    workspace_id: str,
    format: str = "csv",
    email: str | None = None,
    action: list[str] | None = Query(None),  # noqa: B008
    target: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> StreamingHttpResponse:
    rows, content_type = audit_export(
        actor=actor_of(request),
        workspace_id=workspace_id,
        filters=_filters(email, action, target, since, until),
        format=format,
    )
    response = StreamingHttpResponse(rows, content_type=content_type)
    stamp = clock.now().astimezone(dt.UTC).strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = (
        f'attachment; filename="audit-{workspace_id}-{stamp}.{format}"'
    )
    return response
