"""The Audits tab: search, htmx paging, export links, and the chain check."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from botyard.audit import selectors
from botyard.audit.export import audit_export
from botyard.audit.models import Action, TargetType
from botyard.audit.services import audit_verify
from botyard.core.errors import ApplicationError
from botyard.web.workspace_views import actor_for, workspace_context, workspace_tab
from botyard.workspaces.access import Access

PAGE_SIZE = 50


def _filters_from(request: HttpRequest) -> tuple[selectors.AuditFilters, str | None]:
    """The filters typed in the search form; an invalid one is reported, not applied."""
    try:
        return (
            selectors.parse_filters(
                email=request.GET.get("email"),
                actions=request.GET.getlist("action"),
                target=request.GET.get("target"),
                since=request.GET.get("since"),
                until=request.GET.get("until"),
            ),
            None,
        )
    except ApplicationError as error:
        return selectors.AuditFilters(), error.errors[0][
            "message"
        ] if error.errors else error.detail


@workspace_tab("audits")
def audits(request: HttpRequest, access: Access) -> HttpResponse:
    filters, filter_error = _filters_from(request)
    try:
        page = selectors.audit_search(
            access=access, filters=filters, cursor=request.GET.get("cursor"), limit=PAGE_SIZE
        )
    except ApplicationError as error:  # a stale or edited cursor
        filter_error = error.detail
        page = selectors.audit_search(access=access, filters=filters, cursor=None, limit=PAGE_SIZE)
    query = filters.as_query()
    context = workspace_context(request, access, tab="audits")
    context.update(
        events=page.items,
        next_url=(
            f"?{urlencode([*query, ('cursor', page.next_cursor)])}" if page.next_cursor else None
        ),
        export_query=urlencode(query),
        filter_error=filter_error,
        actions=Action.values,
        targets=TargetType.values,
        chosen_actions=set(filters.actions),
        form=request.GET,
    )
    template = "web/audits.html#rows" if request.headers.get("HX-Request") else "web/audits.html"
    response = render(request, template, context)
    # One URL, two bodies (the page, or the rows for htmx): caches must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


@workspace_tab("audits")
def audits_export(request: HttpRequest, access: Access, format: str) -> HttpResponseBase:
    filters, filter_error = _filters_from(request)
    if filter_error:
        return HttpResponse(filter_error, status=400, content_type="text/plain")
    rows, content_type = audit_export(
        actor=actor_for(request), workspace_id=access.workspace.id, filters=filters, format=format
    )
    response = StreamingHttpResponse(rows, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="audit-{access.workspace.id}.{format}"'
    return response


@workspace_tab("audits")
@require_POST
def audits_verify(request: HttpRequest, access: Access) -> HttpResponse:
    report = audit_verify(workspace_id=access.workspace.id)
    context = workspace_context(request, access, tab="audits")
    context["report"] = report
    return render(request, "web/_chain_state.html", context)
