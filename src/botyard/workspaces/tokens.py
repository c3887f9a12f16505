"""Invitation tokens: derived from the server's secret, the invitation id and a nonce, so
that only their digest is ever stored (and the email task needs no secret in its args)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings


def new_nonce() -> str:
    return secrets.token_hex(16)


def invitation_token(invitation_id: str, nonce: str) -> str:
    message = f"botyard-invitation:{invitation_id}:{nonce}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
