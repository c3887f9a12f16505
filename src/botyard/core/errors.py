"""The ApplicationError hierarchy: every refusal a service makes, with an HTTP status and a
stable `code` that is part of the API contract."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    status = 400
    code = "validation_error"
    title = "Invalid input"

    @classmethod
    def field(cls, field: str, message: str, *, code: str | None = None) -> ValidationFailed:
        return cls(message, code=code, errors=[{"field": field, "message": message}])


class NotAuthenticated(ApplicationError):
    status = 401
    code = "not_authenticated"
    title = "Not authenticated"


def invalid_bot_key_error() -> NotAuthenticated:
    """A channel's request without a (valid) key of the bot it posts to."""
    return NotAuthenticated(
        "Send a valid key of this bot as 'Authorization: Bearer <bot key>'.",
        code="invalid_bot_key",
        headers={"WWW-Authenticate": "Bearer"},
    )


class PermissionDenied(ApplicationError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(ApplicationError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(ApplicationError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Gone(ApplicationError):
    status = 410
    code = "gone"
    title = "Gone"


class Throttled(ApplicationError):
    status = 429
    code = "too_many_requests"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(detail, code=code, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)
