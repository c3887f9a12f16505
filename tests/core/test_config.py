"""Configuration from the environment (product.md §9)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from botyard import config
from botyard.core.email_url import parse_email_url
from botyard.settings import _database

SMTP = "django.core.mail.backends.smtp.EmailBackend"

# --- EMAIL_URL ---------------------------------------------------------------------------


def test_console_email() -> None:
    assert parse_email_url("console:") == {
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"
    }


def test_locmem_email() -> None:
    assert parse_email_url("locmem:") == {
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"
    }


def test_file_email_keeps_the_leading_slash_of_an_absolute_path() -> None:
    assert parse_email_url("file:///var/spool/botyard%20mail") == {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": "/var/spool/botyard mail",
    }


def test_plain_smtp() -> None:
    assert parse_email_url("smtp://mail.example.com:2525") == {
        "EMAIL_BACKEND": SMTP,
        "EMAIL_HOST": "mail.example.com",
        "EMAIL_PORT": 2525,
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
        "EMAIL_TIMEOUT": 30,
    }


def test_smtp_defaults_to_port_25() -> None:
    assert parse_email_url("smtp://mail.example.com")["EMAIL_PORT"] == 25


def test_smtp_with_starttls_and_credentials() -> None:
    parsed = parse_email_url("smtp+tls://robot%40example.com:p%40ss%3Aword@mail.example.com:587")

    assert parsed["EMAIL_BACKEND"] == SMTP
    assert parsed["EMAIL_HOST"] == "mail.example.com"
    assert parsed["EMAIL_PORT"] == 587
    assert parsed["EMAIL_HOST_USER"] == "robot@example.com"
    assert parsed["EMAIL_HOST_PASSWORD"] == "p@ss:word"
    assert parsed["EMAIL_USE_TLS"] is True
    assert parsed["EMAIL_USE_SSL"] is False


def test_smtps_uses_implicit_tls_on_465() -> None:
    parsed = parse_email_url("smtps://mail.example.com")

    assert (parsed["EMAIL_PORT"], parsed["EMAIL_USE_SSL"], parsed["EMAIL_USE_TLS"]) == (
        465,
        True,
        False,
    )


@pytest.mark.parametrize("url", ["http://mail.example.com", "mail.example.com", "", "imap://x"])
def test_an_unknown_email_scheme_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="EMAIL_URL"):
        parse_email_url(url)


def test_the_suite_sends_mail_to_memory() -> None:
    assert settings.EMAIL_BACKEND == "django.core.mail.backends.locmem.EmailBackend"


# --- the secret key ----------------------------------------------------------------------


def test_the_secret_key_is_generated_once_into_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"

    first = config._secret_key(data_dir)
    second = config._secret_key(data_dir)

    assert first == second
    assert len(first) >= 50
    key_file = data_dir / "secret_key"
    assert key_file.read_text() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_each_install_gets_its_own_secret_key(tmp_path: Path) -> None:
    assert config._secret_key(tmp_path / "a") != config._secret_key(tmp_path / "b")


# --- load() ------------------------------------------------------------------------------


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An empty configuration environment in an empty folder (so no `.env` is read)."""
    for name in config.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_defaults(environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    loaded = config.load()

    assert loaded.data_dir == tmp_path / "var"
    assert loaded.data_dir.is_dir()
    assert loaded.database_url is None
    assert loaded.email_url == "console:"
    assert loaded.base_url == "http://127.0.0.1:8000"
    assert loaded.secret_key == (tmp_path / "var" / "secret_key").read_text()
    assert loaded.debug is False
    assert loaded.signup_open is True


def test_variables_override_the_defaults(environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    environment.setenv("BOTYARD_DATA_DIR", str(tmp_path / "data"))
    environment.setenv("DATABASE_URL", "postgres://botyard@db.internal:5432/botyard")
    environment.setenv("EMAIL_URL", "smtp://mail.internal:25")
    environment.setenv("BASE_URL", "https://yard.example.com/")
    environment.setenv("SECRET_KEY", "from-the-environment")
    environment.setenv("BOTYARD_DEBUG", "yes")
    environment.setenv("BOTYARD_SIGNUP", " Closed ")

    loaded = config.load()

    assert loaded.data_dir == tmp_path / "data"
    assert loaded.database_url == "postgres://botyard@db.internal:5432/botyard"
    assert loaded.email_url == "smtp://mail.internal:25"
    assert loaded.base_url == "https://yard.example.com"
    assert loaded.secret_key == "from-the-environment"
    assert not (tmp_path / "data" / "secret_key").exists()
    assert loaded.debug is True
    assert loaded.signup_open is False


def test_a_dotenv_file_is_read_but_the_environment_wins(
    environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("BOTYARD_SIGNUP=closed\nBASE_URL=https://from-dotenv.example\n")
    environment.setenv("BASE_URL", "https://from-env.example")
    # load_dotenv writes what it reads into os.environ; monkeypatch must restore those too.
    environment.setenv("BOTYARD_SIGNUP", "")
    environment.delenv("BOTYARD_SIGNUP")

    loaded = config.load()

    assert loaded.signup_open is False
    assert loaded.base_url == "https://from-env.example"


@pytest.mark.parametrize("value", ["maybe", "true", "0", "opened"])
def test_an_invalid_signup_setting_is_refused(environment: pytest.MonkeyPatch, value: str) -> None:
    environment.setenv("BOTYARD_SIGNUP", value)

    with pytest.raises(ValueError, match="BOTYARD_SIGNUP"):
        config.load()


@pytest.mark.parametrize(
    ("value", "debug"), [("1", True), ("on", True), ("", False), ("no", False)]
)
def test_debug_words(environment: pytest.MonkeyPatch, value: str, debug: bool) -> None:
    environment.setenv("BOTYARD_DEBUG", value)

    assert config.load().debug is debug


# --- databases ---------------------------------------------------------------------------


def test_database_url_selects_postgresql() -> None:
    db = _database("postgres://botyard:secret@db.internal:5433/yard")

    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"]) == (
        "db.internal",
        5433,
        "yard",
        "botyard",
    )


def test_sqlite_is_the_default_in_the_data_dir() -> None:
    db = _database(None)

    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(settings.DATA_DIR / "botyard.sqlite3")


def test_sqlite_uses_wal_and_immediate_transactions() -> None:
    db = _database(None)

    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "PRAGMA journal_mode=WAL" in db["OPTIONS"]["init_command"]
    assert "PRAGMA foreign_keys=ON" in db["OPTIONS"]["init_command"]


@pytest.mark.django_db
def test_the_running_sqlite_database_is_in_wal_mode() -> None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        pytest.skip("runs on PostgreSQL")

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        (mode,) = cursor.fetchone()

    assert mode == "wal"
    assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
