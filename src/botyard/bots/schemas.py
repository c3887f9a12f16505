from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema
from pydantic import Field

from botyard.core.schemas import ObjectIn


class CreatorRef(Schema):
    id: str | None
    email: str


class BotOut(Schema):
    id: str
    name: str
    description: str
    created_by: CreatorRef
    created_at: dt.datetime
    updated_at: dt.datetime
    published_version: int | None


class BotDetailOut(BotOut):
    definition: dict[str, Any]


class BotListOut(Schema):
    items: list[BotOut]
    next_cursor: str | None


class BotCreateIn(Schema):
    name: str = Field(max_length=1024)
    description: str | None = Field(default=None, max_length=100_000)
    definition: dict[str, Any] | None = None


class BotUpdateIn(ObjectIn):
    name: str | None = Field(default=None, max_length=1024)
    description: str | None = Field(default=None, max_length=100_000)
    definition: dict[str, Any] | None = None


class PublishedOut(Schema):
    version: int
    published_at: dt.datetime


class KeyOut(Schema):
    id: str
    name: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None


class KeyCreatedOut(KeyOut):
    key: str


class KeyListOut(Schema):
    items: list[KeyOut]
    next_cursor: str | None


class KeyCreateIn(Schema):
    name: str = Field(max_length=1024)


class AnalyticsDay(Schema):
    date: dt.date
    messages: int
    conversations: int


class AnalyticsOut(Schema):
    days: list[AnalyticsDay]
