"""RFC 9457 problem details: the one shape of every API error."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from django.http import HttpResponse

from botyard.core.errors import ApplicationError, invalid_bot_key_error

CONTENT_TYPE = "application/problem+json"


def problem_response(
    *,
    status: int,
    code: str,
    detail: str,
    title: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    body: dict[str, Any] = {
        "type": f"https://botyard.dev/problems/{code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    response = HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def from_application_error(error: ApplicationError) -> HttpResponse:
    return problem_response(
        status=error.status,
        code=error.code,
        detail=error.detail,
        title=error.title,
        errors=error.errors,
        headers=error.headers,
        extra=error.extra,
    )


def _field_name(loc: Any) -> str:
    # Ninja reports ("body", "payload", "email") or ("query", "limit"); clients want "email".
    parts = [str(p) for p in loc if p not in {"body", "query", "path", "header", "payload"}]
    return ".".join(parts) or "body"


def validation_problem(errors: Iterable[Mapping[str, Any]]) -> HttpResponse:
    """A 400 for a body or parameters that pydantic (through Ninja or directly) refused."""
    errors = list(errors)
    fields = [
        {"field": _field_name(e.get("loc", ())), "message": str(e.get("msg", "Invalid value."))}
        for e in errors
    ]
    unparseable = any(e.get("type") in {"json_invalid"} for e in errors)
    return problem_response(
        status=400,
        code="malformed_json" if unparseable else "validation_error",
        title="Invalid input",
        detail="The request body is not valid JSON."
        if unparseable
        else "Some fields are missing or invalid.",
        errors=fields,
    )


def invalid_bot_key() -> HttpResponse:
    return from_application_error(invalid_bot_key_error())


DEFAULT_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
}


def generic_problem(status: int, detail: str | None = None) -> HttpResponse:
    phrase = HTTPStatus(status).phrase
    return problem_response(
        status=status,
        code=DEFAULT_CODES.get(status, "error" if status < 500 else "internal_error"),
        detail=detail or phrase,
    )
