"""The JSON API at /api/v1/: routers mounted here, and the one error handler."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from botyard.accounts.api import router as accounts_router
from botyard.audit.api import router as audit_router
from botyard.billing.api import router as billing_router
from botyard.bots.api import router as bots_router
from botyard.core.errors import ApplicationError
from botyard.core.metrics import record_message
from botyard.core.openapi import document_problems
from botyard.core.problem import (
    from_application_error,
    generic_problem,
    invalid_bot_key,
    problem_response,
    validation_problem,
)
from botyard.messaging.api import router as messaging_router
from botyard.workspaces.api import router as workspaces_router


class BotyardAPI(NinjaAPI):
    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> Any:
        """Ninja's document, plus the problem answers of every operation."""
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        return document_problems(schema, prefix=path_prefix)


api = BotyardAPI(
    title="botyard API",
    version="1",
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
# The message endpoint first: Django tries URL patterns in order, and it takes most of
# the traffic (each pattern tried before it costs every message a little).
api.add_router("/", messaging_router)
api.add_router("/", accounts_router)
api.add_router("/", workspaces_router)
api.add_router("/", bots_router)
api.add_router("/", billing_router)
api.add_router("/", audit_router)


# The channel-facing endpoint authenticates with bot keys, not personal access tokens.
CHANNEL_PATH_PREFIX = "/api/v1/bots/"


@api.exception_handler(ApplicationError)
def on_application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    return from_application_error(exc)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return validation_problem(exc.errors)


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    if request.path.startswith(CHANNEL_PATH_PREFIX):
        record_message("invalid_bot_key")
        return invalid_bot_key()
    return problem_response(
        status=401,
        code="not_authenticated",
        detail="Send a valid personal access token as 'Authorization: Bearer <token>'.",
        headers={"WWW-Authenticate": "Bearer"},
    )


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 403 and "csrf" in str(exc).lower():
        return problem_response(
            status=403, code="csrf_failed", detail="The CSRF token is missing or incorrect."
        )
    if exc.status_code == 400 and "parse" in str(exc).lower():
        return problem_response(
            status=400, code="malformed_json", detail="The request body is not valid JSON."
        )
    return generic_problem(exc.status_code, str(exc))


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return generic_problem(404, "Not found.")
