from __future__ import annotations

from dataclasses import dataclass

from botyard.accounts.models import User


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where: what every audited service needs to know."""

    user: User
    address: str = ""

    @property
    def email(self) -> str:
        return self.user.email
