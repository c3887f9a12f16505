"""Guarantees on every /api/ path: problem details for every error, never an HTML page."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    PermissionDenied,
    SuspiciousOperation,
    TooManyFieldsSent,
)
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError

from botyard.core.problem import CONTENT_TYPE, generic_problem

logger = logging.getLogger("botyard.api")

JSON_TYPES = ("application/json", "application/problem+json")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Exceptions Django itself answers with a 4xx; __call__ then turns that page into a problem.
CLIENT_ERRORS = (Http404, PermissionDenied, BadRequest, SuspiciousOperation, MultiPartParserError)
MAX_API_BODY = 1024 * 1024  # a bot definition is at most 256 KiB; an import holds a few


class ApiProblemMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        refused = self.refusal(request)
        if refused is not None:
            return refused
        return self.convert_error(self.get_response(request))

    @staticmethod
    def convert_error(response: HttpResponse) -> HttpResponse:
        """An error answered as a page (Django's 404, 405 …) becomes a problem document."""
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith(
            CONTENT_TYPE
        ):
            converted = generic_problem(response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    converted[header] = response[header]
            return converted
        return response

    def refusal(self, request: HttpRequest) -> HttpResponse | None:
        """The answer to an /api/ request refused before any view, if it is refused."""
        try:
            has_nul = _has_nul(request)
        except TooManyFieldsSent:  # Django would answer its HTML 400 page
            return generic_problem(
                400,
                f"The query string has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields.",
            )
        if has_nul:
            return generic_problem(400, "The path or query string contains a NUL character.")
        return self._refuse_body(request)

    def _refuse_body(self, request: HttpRequest) -> HttpResponse | None:
        if request.method not in BODY_METHODS:
            return None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return generic_problem(400, "The Content-Length header is not a number.")
        if length > MAX_API_BODY:
            return generic_problem(413, f"The body is larger than {MAX_API_BODY} bytes.")
        content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if length and content_type not in JSON_TYPES:
            return generic_problem(415, "Send the body as application/json.")
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith("/api/") or isinstance(exception, CLIENT_ERRORS):
            return None
        logger.exception("unhandled error on %s %s", request.method, request.path)
        detail = repr(exception) if settings.DEBUG else "An unexpected error occurred."
        return generic_problem(500, detail)


def _has_nul(request: HttpRequest) -> bool:
    """No id or filter holds a NUL, and PostgreSQL text cannot even be compared with one,
    so a NUL in the path or the query is refused before it reaches a view."""
    if "\x00" in request.path:
        return True
    return any(
        "\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()
    )
