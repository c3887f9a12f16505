"""Model factories. They go through the services, so every row they make is one the
application itself could have made."""

from __future__ import annotations

import itertools

from botyard.accounts import services
from botyard.accounts.models import AccessToken, User

PASSWORD = "correct-horse-battery-9"
_sequence = itertools.count(1)


def user(
    *,
    email: str | None = None,
    password: str = PASSWORD,
    name: str | None = None,
    is_staff: bool = False,
) -> User:
    n = next(_sequence)
    return services.user_create(
        email=email or f"user{n}@example.com",
        password=password,
        name=name or f"User {n}",
        is_staff=is_staff,
    )


def token(*, user: User, name: str = "laptop") -> tuple[AccessToken, str]:
    return services.token_create(user=user, name=name)


def token_secret(*, user: User, name: str = "laptop") -> str:
    return token(user=user, name=name)[1]
