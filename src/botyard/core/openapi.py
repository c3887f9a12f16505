"""The error side of the OpenAPI document: Ninja documents each route's success answers;
this adds the RFC 9457 problems every route can answer, so that clients (and the API
fuzz tests, which hold the server to the document) know every status they may receive."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from botyard.core.problem import CONTENT_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `code` is part of the API contract.",
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                "required": ["field", "message"],
            },
        },
    },
    "required": ["type", "title", "status", "detail", "code"],
}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

UNSAFE_METHODS = frozenset({"post", "put", "patch", "delete"})
# Answers beyond the generic ones (see `problem_statuses`), by operation: the refusals that
# api.md lists for each.
EXTRA_STATUSES: dict[tuple[str, str], frozenset[int]] = {
    ("post", "/auth/signup"): frozenset({409}),
    ("post", "/auth/tokens"): frozenset({401, 429}),
    ("post", "/workspaces"): frozenset({409}),
    ("delete", "/workspaces/{workspace_id}"): frozenset({409}),
    ("post", "/workspaces/{workspace_id}/leave"): frozenset({409}),
    ("post", "/workspaces/{workspace_id}/transfer"): frozenset({409}),
    ("post", "/workspaces/{workspace_id}/invitations"): frozenset({409}),
    ("post", "/workspaces/{workspace_id}/invitations/{invitation_id}/resend"): frozenset({429}),
    ("post", "/invitations/accept"): frozenset({404, 409, 410}),
    ("post", "/workspaces/{workspace_id}/bots"): frozenset({409}),
    ("post", "/workspaces/{workspace_id}/bots/import"): frozenset({409}),
    ("put", "/workspaces/{workspace_id}/billing/plan"): frozenset({409}),
    ("delete", "/workspaces/{workspace_id}/billing/payment-method"): frozenset({409}),
    ("put", "/workspaces/{workspace_id}/billing/budget"): frozenset({409}),
    ("post", "/bots/{bot_id}/messages"): frozenset({409, 429}),
}
# Downloads: what they send instead of the JSON Ninja assumes.
DOWNLOADS: dict[tuple[str, str], dict[str, Any]] = {
    ("get", "/workspaces/{workspace_id}/invoices/{invoice_id}/pdf"): {
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
    },
    ("get", "/workspaces/{workspace_id}/audits/export"): {
        "text/csv": {"schema": {"type": "string"}},
        "application/x-ndjson": {"schema": {"type": "string"}},
    },
}


def problem_statuses(method: str, path: str, operation: dict[str, Any]) -> frozenset[int]:
    """Every status below 500 the operation can answer with a problem.

    400: any request (a validation error, a malformed body, a NUL in the query); 401: any
    operation with security; 403: a permission (workspace-scoped routes) or a CSRF failure
    (unsafe methods on the session); 404: whatever a path parameter names; 413 and 415:
    any body (ApiProblemMiddleware); plus the operation's own, from EXTRA_STATUSES."""
    secured = bool(operation.get("security"))
    statuses = {400}
    if secured:
        statuses.add(401)
        if method in UNSAFE_METHODS or "{workspace_id}" in path:
            statuses.add(403)
    if "{" in path:
        statuses.add(404)
    if method in UNSAFE_METHODS:
        statuses |= {413, 415}
    if path == "/auth/signup":
        statuses.add(403)  # signup_closed
    return frozenset(statuses | EXTRA_STATUSES.get((method, path), frozenset()))


def _problem_response(status: int, *, secured: bool) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": HTTPStatus(status).phrase,
        "content": {CONTENT_TYPE: {"schema": PROBLEM_REF}},
    }
    if status == 401 and secured:  # the challenge names the scheme to authenticate with
        response["headers"] = {
            "WWW-Authenticate": {"required": True, "schema": {"type": "string"}},
        }
    if status == 429:
        response["headers"] = {
            "Retry-After": {
                "required": True,
                "description": "Seconds until a retry can succeed.",
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            },
        }
    return response


def document_problems(schema: dict[str, Any], *, prefix: str) -> dict[str, Any]:
    """Adds the Problem schema and each operation's problem answers to `schema`."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for full_path, item in schema.get("paths", {}).items():
        path = full_path.removeprefix(prefix.rstrip("/"))
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            for status in sorted(problem_statuses(method, path, operation)):
                problem = _problem_response(status, secured=bool(operation.get("security")))
                responses.setdefault(status, problem)  # Ninja keys responses by int
            download = DOWNLOADS.get((method, path))
            if download is not None:
                responses[200]["content"] = download
    return schema
