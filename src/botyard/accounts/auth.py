"""API authentication: personal access tokens, or the browser session (with CSRF)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from botyard.accounts.services import token_authenticate


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = token_authenticate(token)
        if user is not None:
            request.user = user
        return user


class BrowserSessionAuth(SessionAuth):
    """The signed-in browser session, with CSRF checked on unsafe methods. The check runs
    only when there is a session user: a request with neither a session nor a valid token
    is "not authenticated" (401), not a CSRF failure (403)."""

    def __call__(self, request: HttpRequest) -> Any:
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)


user_auth = [TokenAuth(), BrowserSessionAuth()]
