from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from botyard.accounts.models import User, normalize_email


class EmailBackend(ModelBackend):
    """Case-insensitive email sign-in; runs the password hasher for unknown emails too, so
    that timing does not tell which accounts exist."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        email = normalize_email(kwargs.get("email") or username or "")
        if not email or password is None:
            return None
        user = User.objects.filter(email=email).first()
        if user is None:
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
