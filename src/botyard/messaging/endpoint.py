"""POST /api/v1/bots/{bot_id}/messages: the channel-facing endpoint, as a plain Django view.

The operation is declared in the Ninja router (messaging.api), which documents it in the
OpenAPI schema with the same pydantic models, and the URL configuration routes the path
here first (ADR 0007). Ninja's dispatch (its parameter models, its response validation)
cost each message about as much as storing and counting it. This view keeps Ninja's
contract: authentication before the body, the same validation errors, the same problems.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError

from botyard.core.errors import ApplicationError
from botyard.core.metrics import record_message
from botyard.core.problem import (
    from_application_error,
    invalid_bot_key,
    problem_response,
    validation_problem,
)
from botyard.messaging import services
from botyard.messaging.schemas import MessageIn

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an 'Authorization: Bearer <token>' header, as Ninja's HttpBearer
    reads it (the scheme in any case); None when there is none."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def answer(
    bot_id: str, secret: str, payload: MessageIn, idempotency_key: str | None
) -> HttpResponse:
    """The answer to one authenticated, parsed message (also the Ninja operation's)."""
    try:
        answered = services.message_ingest(
            bot_id=bot_id,
            secret=secret,
            message=services.IncomingMessage(
                user_id=payload.user_id, text=payload.text, conversation_id=payload.conversation_id
            ),
            idempotency_key=idempotency_key,
        )
    except ApplicationError as error:
        record_message(error.code)
        return from_application_error(error)
    record_message("accepted")
    return HttpResponse(encode_answer(answered), content_type=JSON_CONTENT_TYPE)


def encode_answer(answered: dict[str, Any]) -> str:
    """The documented fields in the documented order, for a first answer and its replay
    alike (a replay's stored JSON may come back with its keys in another order)."""
    return json.dumps(
        {
            "message_id": answered["message_id"],
            "conversation_id": answered["conversation_id"],
            "reply": {"text": answered["reply"]["text"]},
            "usage": {"used": answered["usage"]["used"], "limit": answered["usage"]["limit"]},
        }
    )


@csrf_exempt  # bot-key authentication: no cookies, nothing to forge
def message_post(request: HttpRequest, bot_id: str) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    secret = bearer_token(request.META.get("HTTP_AUTHORIZATION"))
    if secret is None:
        record_message("invalid_bot_key")
        return invalid_bot_key()
    try:
        # Parsed, then validated, as Ninja does (the same errors for the same bodies).
        data = json.loads(request.body)
    except (ValueError, RecursionError):  # also not UTF-8, or nested too deep to parse
        return problem_response(
            status=400, code="malformed_json", detail="The request body is not valid JSON."
        )
    try:
        payload = MessageIn.model_validate(data)
    except ValidationError as error:
        return validation_problem(error.errors())
    return answer(bot_id, secret, payload, request.META.get("HTTP_IDEMPOTENCY_KEY"))
