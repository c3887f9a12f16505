"""Glue between dashboard views and workspace access: resolve the caller's membership,
turn refusals into the friendly 404/403 pages, and give templates the permission table."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render

from botyard.accounts.models import User
from botyard.core.actor import Actor
from botyard.core.errors import ApplicationError, NotFound, PermissionDenied
from botyard.core.request import client_address
from botyard.web.tabs import TAB_BY_KEY, tabs_for
from botyard.workspaces import selectors
from botyard.workspaces.access import Access, access_workspace
from botyard.workspaces.roles import Permission, has_permission

P = ParamSpec("P")
T = TypeVar("T")


def actor_for(request: HttpRequest) -> Actor:
    assert isinstance(request.user, User)
    return Actor(user=request.user, address=client_address(request))


def permissions_of(role: str) -> dict[str, bool]:
    return {p.value: has_permission(role, p) for p in Permission}


def forbidden_page(request: HttpRequest, access: Access | None = None) -> HttpResponse:
    context: dict[str, Any] = {
        "status": 403,
        "title": "Not available to your role",
        "message": "Your role in this workspace does not include this page. Ask an "
        "administrator of the workspace if you need it.",
    }
    if access is not None:
        context.update(workspace_context(request, access, tab=""))
        return render(request, "web/workspace_forbidden.html", context, status=403)
    return render(request, "web/error.html", context, status=403)


def workspace_context(request: HttpRequest, access: Access, *, tab: str) -> dict[str, Any]:
    assert isinstance(request.user, User)
    return {
        "access": access,
        "workspace": access.workspace,
        "my_role": access.membership.role,
        "can": permissions_of(access.membership.role),
        "tabs": tabs_for(access.membership.role),
        "current_tab": tab,
        "switcher": list(selectors.membership_list_for(user=request.user).order_by("joined_at")),
    }


def workspace_tab(
    tab_key: str,
) -> Callable[
    [Callable[Concatenate[HttpRequest, Access, P], HttpResponseBase]],
    Callable[..., HttpResponseBase],
]:
    """Resolve `workspace_id` to the caller's Access and require the tab's permission."""
    tab = TAB_BY_KEY[tab_key]

    def decorate(
        view: Callable[Concatenate[HttpRequest, Access, P], HttpResponseBase],
    ) -> Callable[..., HttpResponseBase]:
        @login_required
        @wraps(view)
        def wrapper(
            request: HttpRequest, workspace_id: str, *args: Any, **kwargs: Any
        ) -> HttpResponseBase:
            assert isinstance(request.user, User)
            try:
                access = access_workspace(request.user, workspace_id)
            except NotFound:
                raise Http404("No such workspace") from None
            if not access.can(tab.permission):
                return forbidden_page(request, access)
            try:
                return view(request, access, *args, **kwargs)
            except PermissionDenied as error:
                messages.error(request, error.detail)
                return forbidden_page(request, access)
            except NotFound:
                raise Http404("Not found") from None
            except ApplicationError as error:  # a refusal no form on the page could show
                return render(
                    request,
                    "web/workspace_forbidden.html",
                    {
                        **workspace_context(request, access, tab=tab_key),
                        "status": error.status,
                        "title": error.title,
                        "message": error.detail,
                    },
                    status=error.status,
                )

        return wrapper

    return decorate


def report(request: HttpRequest, error: ApplicationError) -> None:
    messages.error(request, error.detail)


def act(
    request: HttpRequest,
    change: Callable[[], T],
    success: str | Callable[[T], str],
    *,
    then: HttpResponse,
    refused: HttpResponse | None = None,
) -> HttpResponse:
    """A dashboard button: run the service's change, flash what it did (`success`, or
    `success(result)`) and go to `then`; if the service refuses, flash its reason instead
    and go to `refused` (or `then`). Post/redirect/get either way, so a reload never
    repeats the change."""
    try:
        result = change()
    except ApplicationError as error:
        report(request, error)
        return refused if refused is not None else then
    messages.success(request, success if isinstance(success, str) else success(result))
    return then
