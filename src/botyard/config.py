"""Configuration from the environment (and a `.env` file), as product.md §9 lists it."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
# Every environment variable load() reads (tests clear them to start from nothing).
VARIABLES = (
    "BOTYARD_DATA_DIR",
    "DATABASE_URL",
    "EMAIL_URL",
    "BASE_URL",
    "SECRET_KEY",
    "BOTYARD_DEBUG",
    "BOTYARD_SIGNUP",
    "BOTYARD_LOG_FORMAT",
)


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str | None
    email_url: str
    base_url: str
    secret_key: str
    debug: bool
    signup_open: bool
    json_logs: bool


def _secret_key(data_dir: Path) -> str:
    """Generate the key once into the data dir so that every process of one install shares it."""
    key_file = data_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    # O_EXCL: when two processes start at once, the first one's key wins.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def load() -> Config:
    load_dotenv(Path.cwd() / ".env", override=False)
    data_dir = Path(os.environ.get("BOTYARD_DATA_DIR", "./var")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    signup = os.environ.get("BOTYARD_SIGNUP", "open").strip().lower()
    if signup not in {"open", "closed"}:
        raise ValueError("BOTYARD_SIGNUP must be 'open' or 'closed'")
    return Config(
        data_dir=data_dir,
        database_url=os.environ.get("DATABASE_URL") or None,
        email_url=os.environ.get("EMAIL_URL", "console:"),
        base_url=os.environ.get("BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        secret_key=os.environ.get("SECRET_KEY") or _secret_key(data_dir),
        debug=os.environ.get("BOTYARD_DEBUG", "").strip().lower() in TRUE_WORDS,
        signup_open=signup == "open",
        json_logs=os.environ.get("BOTYARD_LOG_FORMAT", "").strip().lower() == "json",
    )
