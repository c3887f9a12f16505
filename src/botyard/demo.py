"""Sample data for `botyard demo`. Idempotent: running the demo twice changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from botyard.accounts.models import User
from botyard.accounts.services import user_create

DEMO_PASSWORD = "yard-sail-4821"


@dataclass(frozen=True)
class DemoLogins:
    password: str
    accounts: list[tuple[str, str]]


SAMPLE_USERS = [
    ("olivia@demo.botyard.dev", "Olivia Owner", "owns the sample workspaces"),
]


def load_demo() -> DemoLogins:
    for email, name, _ in SAMPLE_USERS:
        if not User.objects.filter(email=email).exists():
            user_create(email=email, password=DEMO_PASSWORD, name=name)
    return DemoLogins(
        password=DEMO_PASSWORD,
        accounts=[(email, description) for email, _, description in SAMPLE_USERS],
    )
