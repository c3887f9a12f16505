from __future__ import annotations

from ninja import Schema
from pydantic import BaseModel, Field


class MessageIn(BaseModel):
    """A plain pydantic model (not a Ninja Schema): messaging.endpoint validates the body
    with it directly, and the Ninja operation documents it."""

    user_id: str = Field(max_length=10_000)
    text: str = Field(max_length=100_000)
    conversation_id: str | None = Field(default=None, max_length=10_000)


class ReplyOut(Schema):
    text: str


class UsageOut(Schema):
    used: int
    limit: int


class MessageOut(Schema):
    message_id: str
    conversation_id: str
    reply: ReplyOut
    usage: UsageOut
