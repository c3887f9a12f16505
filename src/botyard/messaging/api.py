"""The message endpoint's declaration: its OpenAPI entry and Ninja's own dispatch.

Requests to the path are answered by messaging.endpoint, routed before the Ninja API in
botyard.urls (ADR 0007); the operation below gives the same answers through Ninja and is
tested against the view (tests/messaging/test_endpoint.py)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Header, Router
from ninja.security import HttpBearer

from botyard.messaging import endpoint
from botyard.messaging.schemas import MessageIn, MessageOut


class BotKeyAuth(HttpBearer):
    """Documents the bot-key bearer scheme; the key is checked against the bot in the path
    by the service, which answers 401 invalid_bot_key."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return token


router = Router(tags=["messages"])


@router.post("/bots/{bot_id}/messages", response=MessageOut, auth=BotKeyAuth())
def message_post(
    request: HttpRequest,
    bot_id: str,
    payload: MessageIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> HttpResponse:
    return endpoint.answer(bot_id, request.auth, payload, idempotency_key)  # type: ignore[attr-defined]
