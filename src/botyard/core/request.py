from __future__ import annotations

from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The peer address. A reverse proxy in front must pass the client's address on as the
    peer (docs/deploy.md); X-Forwarded-For is not trusted, since any client can set it."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")
