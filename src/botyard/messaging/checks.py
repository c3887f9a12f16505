"""The message path writes `UPDATE … RETURNING` (messaging.statements), which SQLite
understands from 3.35 on; Django itself accepts older ones."""

from __future__ import annotations

import sqlite3
from typing import Any

from django.core.checks import CheckMessage, Error
from django.db import connections

MINIMUM_SQLITE = (3, 35, 0)


def sqlite_supports_returning(
    *, version: tuple[int, int, int] = sqlite3.sqlite_version_info, **_: Any
) -> list[CheckMessage]:
    if not any(c.vendor == "sqlite" for c in connections.all()) or version >= MINIMUM_SQLITE:
        return []
    return [
        Error(
            f"SQLite {'.'.join(map(str, version))} is too old for botyard, which needs "
            f"{'.'.join(map(str, MINIMUM_SQLITE))} or newer (UPDATE … RETURNING).",
            hint="Use a Python built with a newer SQLite, or PostgreSQL (DATABASE_URL).",
            id="botyard.E001",
        )
    ]
