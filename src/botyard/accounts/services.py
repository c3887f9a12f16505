"""Account writes: sign-up, sign-in with throttling, personal access tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from botyard.accounts import throttling
from botyard.accounts.models import AccessToken, User, normalize_email
from botyard.core import clock
from botyard.core.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from botyard.core.names import clean_name

TOKEN_PREFIX = "byt_"
LAST_USED_RESOLUTION_SECONDS = 60


def clean_email(value: str) -> str:
    email = normalize_email(value or "")
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationFailed.field(
            "email", "Enter a valid email address.", code="invalid_email"
        ) from None
    return email


def user_create(
    *, email: str, password: str, name: str, is_staff: bool = False, via_signup: bool = False
) -> User:
    if via_signup and not settings.SIGNUP_OPEN:
        raise PermissionDenied(
            "Sign-up is closed on this server; ask an administrator for an account.",
            code="signup_closed",
        )
    email = clean_email(email)
    display_name = clean_name(name)
    candidate = User(email=email, name=display_name)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as error:
        messages = " ".join(error.messages)
        raise ValidationFailed(
            messages, code="weak_password", errors=[{"field": "password", "message": messages}]
        ) from None
    try:
        with transaction.atomic():
            if User.objects.filter(email=email).exists():
                raise _email_taken()
            return User.objects.create_user(
                email,
                password,
                name=display_name,
                is_staff=is_staff,
                is_superuser=is_staff,
            )
    except IntegrityError:
        raise _email_taken() from None


def _email_taken() -> Conflict:
    return Conflict(
        "An account with this email address already exists.",
        code="email_taken",
        errors=[{"field": "email", "message": "An account with this email already exists."}],
    )


def user_sign_in(*, email: str, password: str, address: str) -> User:
    """Check credentials under the failed-attempt throttle. The same error for an unknown
    email and a wrong password, so that nobody learns which accounts exist."""
    email = normalize_email(email or "")
    if "\x00" in email:
        # No address holds a NUL, and PostgreSQL text cannot even be compared with one.
        raise ValidationFailed.field("email", "Enter a valid email address.", code="invalid_email")
    buckets = throttling.buckets_for(email, address or "unknown")
    throttling.check(buckets)
    user = authenticate(None, email=email, password=password or "")
    if not isinstance(user, User):
        throttling.record_failure(buckets)
        raise NotAuthenticated(
            "The email address or password is incorrect.", code="invalid_credentials"
        )
    throttling.clear_pair(buckets)
    return user


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(*, user: User, name: str) -> tuple[AccessToken, str]:
    """Returns the token row and the secret, which is never stored and never shown again."""
    token_name = clean_name(name)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = AccessToken.objects.create(user=user, name=token_name, digest=_digest(secret))
    return token, secret


def token_revoke(*, user: User, token_id: str) -> None:
    deleted, _ = AccessToken.objects.filter(user=user, id=token_id).delete()
    if not deleted:
        raise NotFound("No such token.", code="token_not_found")


def token_authenticate(secret: str) -> User | None:
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = (
        AccessToken.objects.select_related("user")
        .filter(digest=_digest(secret), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = clock.now()
    # Record use at most once a minute: a write on every API call would serialise readers.
    last = token.last_used_at
    if last is None or (now - last).total_seconds() >= LAST_USED_RESOLUTION_SECONDS:
        AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
