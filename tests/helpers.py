"""Helpers the tests share: a JSON API client and the problem-details assertion."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

PROBLEM_TYPE = "application/problem+json"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


class ApiClient:
    """django.test.Client speaking JSON: bodies go out as application/json, `token=` sets
    `Authorization: Bearer <token>`, other keyword arguments (REMOTE_ADDR=...) go to the
    WSGI environ as with the plain client."""

    def __init__(self, client: Client) -> None:
        self.django = client

    @staticmethod
    def _headers(token: str | None, headers: dict[str, str] | None) -> dict[str, str]:
        merged = dict(headers or {})
        if token is not None:
            merged["Authorization"] = f"Bearer {token}"
        return merged

    def get(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> Any:
        return self.django.get(path, data, headers=self._headers(token, headers), **extra)

    def send(
        self,
        method: str,
        path: str,
        data: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> Any:
        body = "" if data is None else json.dumps(data)
        return self.django.generic(
            method.upper(),
            path,
            body,
            content_type="application/json",
            headers=self._headers(token, headers),
            **extra,
        )

    def post(self, path: str, data: Any = None, **kwargs: Any) -> Any:
        return self.send("POST", path, data, **kwargs)

    def put(self, path: str, data: Any = None, **kwargs: Any) -> Any:
        return self.send("PUT", path, data, **kwargs)

    def patch(self, path: str, data: Any = None, **kwargs: Any) -> Any:
        return self.send("PATCH", path, data, **kwargs)

    def delete(self, path: str, data: Any = None, **kwargs: Any) -> Any:
        return self.send("DELETE", path, data, **kwargs)


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status (and code); returns its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM_TYPE
    body: dict[str, Any] = json.loads(response.content)
    assert PROBLEM_KEYS <= body.keys(), body
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body


def assert_never_5xx(response: Any) -> None:
    """Below 500, and every error is a complete problem document."""
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        assert_problem(response, response.status_code)
