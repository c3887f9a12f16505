from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Header, Router
from ninja.security import HttpBearer

from botyard.core.errors import ApplicationError
from botyard.core.metrics import record_message
from botyard.messaging import services
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
) -> dict[str, Any]:
    try:
        key = services.authenticate_bot_key(bot_id=bot_id, secret=request.auth)  # type: ignore[attr-defined]
        answer = services.message_ingest(
            key=key,
            message=services.IncomingMessage(
                user_id=payload.user_id, text=payload.text, conversation_id=payload.conversation_id
            ),
            idempotency_key=idempotency_key,
        )
    except ApplicationError as error:
        record_message(error.code)
        raise
    record_message("accepted")
    return answer
