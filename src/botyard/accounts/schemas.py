from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import Field


class SignupIn(Schema):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)
    name: str = Field(max_length=1024)


class UserOut(Schema):
    id: str
    email: str
    name: str
    created_at: dt.datetime


class TokenCreateIn(Schema):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)
    name: str = Field(max_length=1024)


class TokenOut(Schema):
    id: str
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None


class TokenCreatedOut(Schema):
    id: str
    name: str
    token: str
    created_at: dt.datetime


class TokenListOut(Schema):
    items: list[TokenOut]
    next_cursor: str | None
