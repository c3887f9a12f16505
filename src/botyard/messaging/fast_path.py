"""POST /api/v1/bots/{bot_id}/messages answered ahead of Django's middleware chain.

Every end-user message of every channel comes through this one path, and under load a
worker spent more of a message's time in Django's request handling (the middleware
chain, the URL resolver, the request signals) than in storing and counting it (ADR
0010). This WSGI wrapper answers the path itself with the same view
(messaging.endpoint.message_post) and runs, around it, the part of each middleware that
acts on such a request: the request checks of SecurityMiddleware, ApiProblemMiddleware
and CommonMiddleware (the Host check among them), then the response hooks of
CommonMiddleware, XFrameOptionsMiddleware and SecurityMiddleware, the Content-Security-
Policy header, the request metrics and the 4xx/5xx logging, in the order Django runs
them. What it leaves out serves browsers only: static files, sessions, CSRF (the view is
exempt), the signed-in user and flash messages.

Anything out of the ordinary goes to Django's full handler instead, before anything has
been read or written: another method or path, a request with cookies (the session
middleware would answer it differently), a request one of those checks refuses, a
deployment with DEBUG on, or a MIDDLEWARE setting other than the one this was written
for. tests/messaging/test_fast_path.py checks that both give the same answers."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any, cast

from django.conf import settings
from django.core import signals
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_script_name
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import set_script_prefix
from django.utils.log import log_response

from botyard.core.metrics import record_request
from botyard.core.middleware import ApiProblemMiddleware
from botyard.messaging.endpoint import message_post

# The chain this was written against, deliberately a copy of settings.MIDDLEWARE: when
# the setting changes, the path turns off until what it runs is brought in line.
MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "botyard.core.metrics.MetricsMiddleware",
    "botyard.core.middleware.ApiProblemMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
)
# The URL pattern of the path (botyard.urls), also the route label of its metrics: Django
# matches the `str` converter as [^/]+ against the path after its leading slash.
ROUTE = "api/v1/bots/<str:bot_id>/messages"
_PATH = re.compile(r"/api/v1/bots/([^/]+)/messages")

StartResponse = Callable[..., Any]


def _unused(request: HttpRequest) -> HttpResponse:  # the hooks below are not chained
    raise AssertionError("not part of a chain")


class MessageFastPath:
    """The WSGI application: this path answered here, every other request by Django."""

    def __init__(self, django: WSGIHandler) -> None:
        self.django = django
        self.enabled = tuple(settings.MIDDLEWARE) == MIDDLEWARE and not settings.DEBUG
        self.security = SecurityMiddleware(_unused)
        self.api_problems = ApiProblemMiddleware(_unused)
        self.common = CommonMiddleware(_unused)
        self.frame_options = XFrameOptionsMiddleware(_unused)
        self._csp_headers: list[tuple[str, str]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not self._takes(environ):
            return self.django(environ, start_response)
        # A copy: WSGIRequest rewrites PATH_INFO and SCRIPT_NAME in the dict it is given,
        # and Django's handler may still be given the original.
        request = WSGIRequest(dict(environ))
        match = _PATH.fullmatch(request.path_info)
        # Under a script prefix, ApiProblemMiddleware (which looks at request.path) would
        # leave the path's errors as they are; Django's handler answers those.
        if match is None or request.path != request.path_info:
            return self.django(environ, start_response)
        if not self._passes_request_checks(request):
            return self.django(environ, start_response)
        return self._answer(environ, request, match.group(1), start_response)

    def _takes(self, environ: dict[str, Any]) -> bool:
        return (
            self.enabled
            and environ.get("REQUEST_METHOD") == "POST"
            and not environ.get("HTTP_COOKIE")
            and environ.get("PATH_INFO", "").endswith("/messages")
        )

    def _passes_request_checks(self, request: HttpRequest) -> bool:
        """The request hooks that may answer before the view: an HTTPS redirect, a NUL in
        the path, a body too large or not JSON, a Host not allowed, a refused user agent.
        When one would answer, or raises (a query of too many fields), Django's handler
        answers (and logs) instead."""
        try:
            return (
                self.security.process_request(request) is None
                and self.api_problems.refusal(request) is None
                and self.common.process_request(request) is None
            )
        except Exception:  # DisallowedHost, TooManyFieldsSent …: Django answers those too
            return False

    def _answer(
        self, environ: dict[str, Any], request: WSGIRequest, bot_id: str,
        start_response: StartResponse,
    ) -> Any:  # fmt: skip
        # As WSGIHandler.__call__ and BaseHandler.get_response do it.
        set_script_prefix(get_script_name(environ))
        signals.request_started.send(sender=WSGIHandler, environ=environ)
        started = time.perf_counter()
        try:
            response: HttpResponse = message_post(request, bot_id)
        except Exception as error:
            # ApiProblemMiddleware answers (and logs) all but the errors Django itself
            # answers with a 4xx, which it then turns into problems.
            answered = self.api_problems.process_exception(request, error)
            response = answered if answered is not None else response_for_exception(request, error)
        try:
            response = self._finish(request, response)
        except Exception as error:  # as each layer of Django's chain would: a 500 page
            response = response_for_exception(request, error)
        record_request(ROUTE, request.method or "POST", response.status_code,
                       time.perf_counter() - started)  # fmt: skip
        if response.status_code >= 400:
            log_response(
                "%s: %s", response.reason_phrase, request.path, response=response, request=request
            )
        response._resource_closers.append(request.close)  # type: ignore[attr-defined]
        response._handler_class = WSGIHandler  # type: ignore[attr-defined]
        status = f"{response.status_code} {response.reason_phrase}"
        start_response(status, [
            *response.items(),
            *(("Set-Cookie", c.output(header="")) for c in response.cookies.values()),
        ])  # fmt: skip
        return response  # its close() sends request_finished, as Django's does

    def _finish(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """The response hooks, innermost first as Django runs them."""
        for name, value in self._csp(request):
            if name not in response:
                response[name] = value
        response = self.frame_options.process_response(request, response)
        # A redirect (APPEND_SLASH) is an HttpResponse too.
        response = cast(HttpResponse, self.common.process_response(request, response))
        response = self.api_problems.convert_error(response)
        response = self.security.process_response(request, response)
        return response

    def _csp(self, request: HttpRequest) -> list[tuple[str, str]]:
        """The Content-Security-Policy headers of this path's responses, as CSPMiddleware
        writes them. They depend only on the settings here (no nonce is ever asked for, no
        view decorator changes them, and DEBUG is off), so they are worked out once."""
        if self._csp_headers is None:
            from csp.middleware import CSPMiddleware

            probe = HttpResponse()
            CSPMiddleware(_unused).process_response(request, probe)
            self._csp_headers = [
                (name, value)
                for name, value in probe.items()
                if name.lower().startswith("content-security-policy")
            ]
        return self._csp_headers
