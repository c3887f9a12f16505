from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import Field

from botyard.core.schemas import ObjectIn


class UserRef(Schema):
    id: str
    email: str
    name: str


class WorkspaceRef(Schema):
    id: str
    name: str


class WorkspaceOut(Schema):
    id: str
    name: str
    owner: UserRef
    plan: str
    my_role: str
    bot_count: int
    bot_limit: int
    created_at: dt.datetime


class WorkspaceListOut(Schema):
    items: list[WorkspaceOut]
    next_cursor: str | None


class WorkspaceCreateIn(Schema):
    name: str = Field(max_length=1024)
    plan: str = "community"
    payment_method: str | None = Field(default=None, max_length=255)


class WorkspaceRenameIn(Schema):
    name: str = Field(max_length=1024)


class WorkspaceDeleteIn(ObjectIn):
    confirm: str = Field(default="", max_length=1024)


class TransferIn(Schema):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)


class CollaboratorOut(Schema):
    user: UserRef
    role: str
    joined_at: dt.datetime


class CollaboratorListOut(Schema):
    items: list[CollaboratorOut]
    next_cursor: str | None


class RoleIn(Schema):
    role: str = Field(max_length=64)


class InvitationCreateIn(Schema):
    email: str = Field(max_length=254)
    role: str = Field(max_length=64)


class InvitationOut(Schema):
    id: str
    email: str
    role: str
    invited_by: str
    created_at: dt.datetime
    expires_at: dt.datetime


class InvitationListOut(Schema):
    items: list[InvitationOut]
    next_cursor: str | None


class MyInvitationOut(Schema):
    id: str
    workspace: WorkspaceRef
    role: str
    invited_by: str
    expires_at: dt.datetime


class MyInvitationListOut(Schema):
    items: list[MyInvitationOut]
    next_cursor: str | None


class AcceptIn(Schema):
    token: str = Field(max_length=1024)


class AcceptedOut(Schema):
    workspace: WorkspaceRef
    role: str
