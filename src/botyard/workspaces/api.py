from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Body, Router

from botyard.accounts.api import actor_of, current_user
from botyard.accounts.auth import user_auth
from botyard.core.pagination import paginate
from botyard.workspaces import selectors, services
from botyard.workspaces.access import access_workspace
from botyard.workspaces.models import Invitation, Membership, Workspace
from botyard.workspaces.schemas import (
    AcceptedOut,
    AcceptIn,
    CollaboratorListOut,
    CollaboratorOut,
    InvitationCreateIn,
    InvitationListOut,
    InvitationOut,
    MyInvitationListOut,
    RoleIn,
    TransferIn,
    WorkspaceCreateIn,
    WorkspaceDeleteIn,
    WorkspaceListOut,
    WorkspaceOut,
    WorkspaceRenameIn,
)

router = Router(tags=["workspaces"], auth=user_auth)


def workspace_out(workspace: Workspace, *, my_role: str, bot_count: int) -> dict[str, Any]:
    return {
        "id": workspace.id,
        "name": workspace.name,
        "owner": workspace.owner,
        "plan": workspace.plan,
        "my_role": my_role,
        "bot_count": bot_count,
        "bot_limit": selectors.bot_limit_of(workspace),
        "created_at": workspace.created_at,
    }


def _detail(request: HttpRequest, workspace_id: str) -> dict[str, Any]:
    access = access_workspace(current_user(request), workspace_id)
    return workspace_out(
        access.workspace,
        my_role=access.membership.role,
        bot_count=selectors.workspace_bot_count(access.workspace),
    )


def invitation_out(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.id,
        "email": invitation.email,
        "role": invitation.role,
        "invited_by": invitation.invited_by_email,
        "created_at": invitation.created_at,
        "expires_at": invitation.expires_at,
    }


@router.get("/workspaces", response=WorkspaceListOut)
def workspace_list(
    request: HttpRequest, cursor: str | None = None, limit: int | None = None
) -> dict[str, Any]:
    page = paginate(
        selectors.membership_list_for(user=current_user(request)),
        order=("joined_at", "id"),
        cursor=cursor,
        limit=limit,
        datetime_fields=frozenset({"joined_at"}),
    )
    return {
        "items": [
            workspace_out(m.workspace, my_role=m.role, bot_count=m.bot_count)  # type: ignore[attr-defined]
            for m in page.items
        ],
        "next_cursor": page.next_cursor,
    }


@router.post("/workspaces", response={201: WorkspaceOut})
def workspace_create(request: HttpRequest, payload: WorkspaceCreateIn) -> Any:
    workspace = services.workspace_create(
        actor=actor_of(request),
        name=payload.name,
        plan_id=payload.plan,
        payment_token=payload.payment_method,
    )
    return workspace_out(workspace, my_role="owner", bot_count=0)  # 201, its one response


@router.get("/workspaces/{workspace_id}", response=WorkspaceOut)
def workspace_get(request: HttpRequest, workspace_id: str) -> dict[str, Any]:
    return _detail(request, workspace_id)


@router.patch("/workspaces/{workspace_id}", response=WorkspaceOut)
def workspace_rename(
    request: HttpRequest, workspace_id: str, payload: WorkspaceRenameIn
) -> dict[str, Any]:
    services.workspace_rename(actor=actor_of(request), workspace_id=workspace_id, name=payload.name)
    return _detail(request, workspace_id)


@router.delete("/workspaces/{workspace_id}", response={204: None})
def workspace_delete(
    request: HttpRequest,
    workspace_id: str,
    confirm: str | None = None,
    payload: WorkspaceDeleteIn | None = Body(None),  # noqa: B008
) -> HttpResponse:
    typed = payload.confirm if payload is not None and payload.confirm else (confirm or "")
    services.workspace_delete(actor=actor_of(request), workspace_id=workspace_id, confirm=typed)
    return HttpResponse(status=204)


@router.post("/workspaces/{workspace_id}/leave", response={204: None})
def workspace_leave(request: HttpRequest, workspace_id: str) -> HttpResponse:
    services.workspace_leave(actor=actor_of(request), workspace_id=workspace_id)
    return HttpResponse(status=204)


@router.post("/workspaces/{workspace_id}/transfer", response=WorkspaceOut)
def workspace_transfer(
    request: HttpRequest, workspace_id: str, payload: TransferIn
) -> dict[str, Any]:
    services.workspace_transfer(
        actor=actor_of(request),
        workspace_id=workspace_id,
        email=payload.email,
        password=payload.password,
    )
    return _detail(request, workspace_id)


@router.get("/workspaces/{workspace_id}/collaborators", response=CollaboratorListOut)
def collaborator_list(
    request: HttpRequest, workspace_id: str, cursor: str | None = None, limit: int | None = None
) -> dict[str, Any]:
    access = access_workspace(current_user(request), workspace_id)
    page = paginate(
        selectors.collaborator_list(access=access),
        order=("joined_at", "id"),
        cursor=cursor,
        limit=limit,
        datetime_fields=frozenset({"joined_at"}),
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.patch("/workspaces/{workspace_id}/collaborators/{user_id}", response=CollaboratorOut)
def collaborator_change_role(
    request: HttpRequest, workspace_id: str, user_id: str, payload: RoleIn
) -> Membership:
    return services.collaborator_change_role(
        actor=actor_of(request), workspace_id=workspace_id, user_id=user_id, role=payload.role
    )


@router.delete("/workspaces/{workspace_id}/collaborators/{user_id}", response={204: None})
def collaborator_remove(request: HttpRequest, workspace_id: str, user_id: str) -> HttpResponse:
    services.collaborator_remove(
        actor=actor_of(request), workspace_id=workspace_id, user_id=user_id
    )
    return HttpResponse(status=204)


@router.get("/workspaces/{workspace_id}/invitations", response=InvitationListOut)
def invitation_list(
    request: HttpRequest, workspace_id: str, cursor: str | None = None, limit: int | None = None
) -> dict[str, Any]:
    access = access_workspace(current_user(request), workspace_id)
    page = paginate(
        selectors.invitation_list(access=access),
        order=("created_at", "id"),
        cursor=cursor,
        limit=limit,
    )
    return {"items": [invitation_out(i) for i in page.items], "next_cursor": page.next_cursor}


@router.post("/workspaces/{workspace_id}/invitations", response={201: InvitationOut})
def invitation_create(
    request: HttpRequest, workspace_id: str, payload: InvitationCreateIn
) -> dict[str, Any]:
    invitation = services.invitation_create(
        actor=actor_of(request), workspace_id=workspace_id, email=payload.email, role=payload.role
    )
    return invitation_out(invitation)  # 201, its one response


@router.post(
    "/workspaces/{workspace_id}/invitations/{invitation_id}/resend", response=InvitationOut
)
def invitation_resend(request: HttpRequest, workspace_id: str, invitation_id: str) -> Any:
    invitation = services.invitation_resend(
        actor=actor_of(request), workspace_id=workspace_id, invitation_id=invitation_id
    )
    return invitation_out(invitation)


@router.delete("/workspaces/{workspace_id}/invitations/{invitation_id}", response={204: None})
def invitation_revoke(request: HttpRequest, workspace_id: str, invitation_id: str) -> HttpResponse:
    services.invitation_revoke(
        actor=actor_of(request), workspace_id=workspace_id, invitation_id=invitation_id
    )
    return HttpResponse(status=204)


@router.post("/invitations/accept", response=AcceptedOut)
def invitation_accept(request: HttpRequest, payload: AcceptIn) -> dict[str, Any]:
    membership = services.invitation_accept(actor=actor_of(request), token=payload.token)
    return {"workspace": membership.workspace, "role": membership.role}


@router.get("/me/invitations", response=MyInvitationListOut)
def my_invitations(
    request: HttpRequest, cursor: str | None = None, limit: int | None = None
) -> dict[str, Any]:
    page = paginate(
        selectors.invitations_for_me(user=current_user(request)),
        order=("created_at", "id"),
        cursor=cursor,
        limit=limit,
    )
    items = [
        {
            "id": i.id,
            "workspace": i.workspace,
            "role": i.role,
            "invited_by": i.invited_by_email,
            "expires_at": i.expires_at,
        }
        for i in page.items
    ]
    return {"items": items, "next_cursor": page.next_cursor}
