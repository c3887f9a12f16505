"""Dashboard pages for workspaces, collaborators, settings and invitations. Thin: each
parses a form, calls one service or selector, and renders."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from botyard.accounts.models import User
from botyard.billing.plans import plan
from botyard.core.errors import ApplicationError, NotFound, ValidationFailed
from botyard.web.forms import (
    DeleteForm,
    InviteForm,
    RenameForm,
    RoleForm,
    TransferForm,
    WorkspaceCreateForm,
    apply_error,
)
from botyard.web.tabs import tabs_for
from botyard.web.workspace_views import act, actor_for, workspace_context, workspace_tab
from botyard.workspaces import selectors, services
from botyard.workspaces.access import Access, access_workspace
from botyard.workspaces.models import Membership
from botyard.workspaces.roles import Permission, Role


@login_required
def home(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)
    memberships = list(selectors.membership_list_for(user=request.user).order_by("joined_at"))
    invitations = list(selectors.invitations_for_me(user=request.user).order_by("created_at"))
    return render(
        request, "web/home.html", {"memberships": memberships, "invitations": invitations}
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def workspace_new(request: HttpRequest) -> HttpResponse:
    form = WorkspaceCreateForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            workspace = services.workspace_create(
                actor=actor_for(request),
                name=form.cleaned_data["name"],
                plan_id=form.cleaned_data["plan"],
                payment_token=form.cleaned_data["payment_method"] or None,
            )
        except ApplicationError as error:
            apply_error(form, error)
            status = error.status
        else:
            messages.success(request, f"Workspace “{workspace.name}” created.")
            return redirect("web:workspace", workspace_id=workspace.id)
    elif request.method == "POST":
        status = 400
    return render(request, "web/workspace_new.html", {"form": form}, status=status)


@login_required
def workspace_home(request: HttpRequest, workspace_id: str) -> HttpResponse:
    assert isinstance(request.user, User)
    try:
        access = access_workspace(request.user, workspace_id)
    except NotFound:
        from django.http import Http404

        raise Http404("No such workspace") from None
    first = tabs_for(access.membership.role)[0]
    return redirect(first.url_name, workspace_id=workspace_id)


# --- collaborators ----------------------------------------------------------------------


def _collaborators_context(request: HttpRequest, access: Access) -> dict[str, object]:
    context = workspace_context(request, access, tab="collaborators")
    context["members"] = list(selectors.collaborator_list(access=access).order_by("joined_at"))
    if access.can(Permission.COLLABORATOR_MANAGE):
        context["invitations"] = list(
            selectors.invitation_list(access=access).order_by("created_at")
        )
    context["role_choices"] = [(r.value, r.label) for r in Role if r is not Role.OWNER]
    return context


@workspace_tab("collaborators")
@require_http_methods(["GET", "HEAD", "POST"])
def collaborators(request: HttpRequest, access: Access) -> HttpResponse:
    form = InviteForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.invitation_create(
                actor=actor_for(request),
                workspace_id=access.workspace.id,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
            )
        except ApplicationError as error:
            apply_error(form, error)
            status = error.status
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return redirect("web:collaborators", workspace_id=access.workspace.id)
    elif request.method == "POST":
        status = 400
    context = _collaborators_context(request, access)
    context["invite_form"] = form
    return render(request, "web/collaborators.html", context, status=status)


@workspace_tab("collaborators")
@require_POST
def collaborator_role(request: HttpRequest, access: Access, user_id: str) -> HttpResponse:
    form = RoleForm(request.POST)

    def change() -> Membership:
        if not form.is_valid():
            raise ValidationFailed("Choose a role.", code="invalid_role")
        return services.collaborator_change_role(
            actor=actor_for(request), workspace_id=access.workspace.id,
            user_id=user_id, role=form.cleaned_data["role"],
        )  # fmt: skip

    return act(
        request, change,
        lambda membership: (
            f"{membership.user.email} is now {Role(membership.role).label.lower()}."
        ),
        then=redirect("web:collaborators", workspace_id=access.workspace.id),
    )  # fmt: skip


@workspace_tab("collaborators")
@require_POST
def collaborator_remove(request: HttpRequest, access: Access, user_id: str) -> HttpResponse:
    return act(
        request,
        lambda: services.collaborator_remove(
            actor=actor_for(request), workspace_id=access.workspace.id, user_id=user_id
        ),
        "Collaborator removed.",
        then=redirect("web:collaborators", workspace_id=access.workspace.id),
    )


@workspace_tab("collaborators")
@require_POST
def invitation_resend(request: HttpRequest, access: Access, invitation_id: str) -> HttpResponse:
    return act(
        request,
        lambda: services.invitation_resend(
            actor=actor_for(request), workspace_id=access.workspace.id, invitation_id=invitation_id
        ),
        lambda invitation: f"Invitation resent to {invitation.email}.",
        then=redirect("web:collaborators", workspace_id=access.workspace.id),
    )


@workspace_tab("collaborators")
@require_POST
def invitation_revoke(request: HttpRequest, access: Access, invitation_id: str) -> HttpResponse:
    return act(
        request,
        lambda: services.invitation_revoke(
            actor=actor_for(request), workspace_id=access.workspace.id, invitation_id=invitation_id
        ),
        "Invitation revoked.",
        then=redirect("web:collaborators", workspace_id=access.workspace.id),
    )


# --- settings ---------------------------------------------------------------------------


def _settings_context(request: HttpRequest, access: Access) -> dict[str, object]:
    context = workspace_context(request, access, tab="settings")
    context["plan"] = plan(access.workspace.plan)
    context.setdefault("rename_form", RenameForm(initial={"name": access.workspace.name}))
    context.setdefault("delete_form", DeleteForm())
    context.setdefault("transfer_form", TransferForm(candidates=_transfer_candidates(access)))
    return context


def _transfer_candidates(access: Access) -> list[tuple[str, str]]:
    members = selectors.collaborator_list(access=access).exclude(role=Role.OWNER)
    return [(m.user.email, f"{m.user.name} ({m.user.email})") for m in members]


@workspace_tab("settings")
def settings_page(request: HttpRequest, access: Access) -> HttpResponse:
    return render(request, "web/settings.html", _settings_context(request, access))


@workspace_tab("settings")
@require_POST
def settings_rename(request: HttpRequest, access: Access) -> HttpResponse:
    form = RenameForm(request.POST)
    if form.is_valid():
        try:
            services.workspace_rename(
                actor=actor_for(request),
                workspace_id=access.workspace.id,
                name=form.cleaned_data["name"],
            )
        except ApplicationError as error:
            apply_error(form, error)
        else:
            messages.success(request, "Workspace renamed.")
            return redirect("web:settings", workspace_id=access.workspace.id)
    access.workspace.refresh_from_db()
    context = _settings_context(request, access)
    context["rename_form"] = form
    return render(request, "web/settings.html", context, status=400)


@workspace_tab("settings")
@require_POST
def settings_delete(request: HttpRequest, access: Access) -> HttpResponse:
    form = DeleteForm(request.POST)
    if form.is_valid():
        try:
            services.workspace_delete(
                actor=actor_for(request),
                workspace_id=access.workspace.id,
                confirm=form.cleaned_data["confirm"],
            )
        except ApplicationError as error:
            apply_error(form, error)
        else:
            messages.success(
                request, f"Workspace “{access.workspace.name}” and everything in it was deleted."
            )
            return redirect("web:home")
    context = _settings_context(request, access)
    context["delete_form"] = form
    return render(request, "web/settings.html", context, status=400)


@workspace_tab("settings")
@require_POST
def settings_transfer(request: HttpRequest, access: Access) -> HttpResponse:
    form = TransferForm(request.POST, candidates=_transfer_candidates(access))
    if form.is_valid():
        try:
            services.workspace_transfer(
                actor=actor_for(request),
                workspace_id=access.workspace.id,
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
            )
        except ApplicationError as error:
            apply_error(form, error)
        else:
            messages.success(
                request,
                f"{form.cleaned_data['email']} now owns this workspace; you are an administrator.",
            )
            return redirect("web:settings", workspace_id=access.workspace.id)
    context = _settings_context(request, access)
    context["transfer_form"] = form
    return render(request, "web/settings.html", context, status=400)


@workspace_tab("settings")
@require_POST
def settings_leave(request: HttpRequest, access: Access) -> HttpResponse:
    return act(
        request,
        lambda: services.workspace_leave(
            actor=actor_for(request), workspace_id=access.workspace.id
        ),
        f"You left “{access.workspace.name}”.",
        then=redirect("web:home"),
        refused=redirect("web:settings", workspace_id=access.workspace.id),
    )


# --- invitations ------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
def invitation_accept(request: HttpRequest) -> HttpResponse:
    token = request.POST.get("token") or request.GET.get("token") or ""
    if not request.user.is_authenticated:
        next_url = f"{reverse('web:invitation_accept')}?token={token}"
        signin = f"{reverse('accounts:signin')}?next={_quote(next_url)}"
        signup = f"{reverse('accounts:signup')}?next={_quote(next_url)}"
        try:
            invitation = services.invitation_by_token(token)
        except ApplicationError as error:
            return render(request, "web/invitation.html", {"error": error}, status=error.status)
        context = {"invitation": invitation, "anonymous": True}
        context.update(signin_url=signin, signup_url=signup)
        return render(request, "web/invitation.html", context)
    if request.method == "POST":
        try:
            membership = services.invitation_accept(actor=actor_for(request), token=token)
        except ApplicationError as error:
            return render(request, "web/invitation.html", {"error": error}, status=error.status)
        messages.success(
            request,
            f"You joined “{membership.workspace.name}” as {Role(membership.role).label.lower()}.",
        )
        return redirect("web:workspace", workspace_id=membership.workspace_id)
    try:
        invitation = services.invitation_by_token(token)
    except ApplicationError as error:
        return render(request, "web/invitation.html", {"error": error}, status=error.status)
    return render(request, "web/invitation.html", {"invitation": invitation, "token": token})


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
