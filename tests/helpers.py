"""Helpers the tests share: a JSON API client and the problem-details assertion."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


class ApiClient:
    """django.test.Client speaking JSON: bodies are sent as application/json and
    `token=` sets `Authorization: Bearer <token>`."""

    def __init__(self, client: Client) -> None:
        self.django = client

    def _headers(self, token: str | None, headers: dict[str, str] | None) -> dict[str, str]:
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
    ) -> Any:
        return self.django.get(path, data, headers=self._headers(token, headers))

    def _send(
        self,
        method: str,
        path: str,
        data: Any,
        token: str | None,
        headers: dict[str, str] | None,
    ) -> Any:
        send = getattr(self.django, method)
        body = "" if data is None else json.dumps(data)
        return send(
            path, body, content_type="application/json", headers=self._headers(token, headers)
        )

    def post(
        self,
        path: str,
        data: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        return self._send("post", path, data, token, headers)

    def put(
        self,
        path: str,
        data: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        return self._send("put", path, data, token, headers)

    def patch(
        self,
        path: str,
        data: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        return self._send("patch", path, data, token, headers)

    def delete(
        self,
        path: str,
        data: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        return self._send("delete", path, data, token, headers)


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status (and code); returns the body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(response.content)
    assert PROBLEM_KEYS <= body.keys(), body
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body
