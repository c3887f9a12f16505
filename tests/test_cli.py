"""The `botyard` command line (product.md §9)."""

from __future__ import annotations

import pytest

from botyard.accounts.models import User
from botyard.cli import main
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def createuser(*extra: str) -> int:
    return main(["createuser", "--email", "Ops@Example.com", "--password", PASSWORD, *extra])


def test_createuser_creates_the_user(capsys: pytest.CaptureFixture[str]) -> None:
    assert createuser("--name", "Olga Ops") == 0

    user = User.objects.get()
    assert (user.email, user.name, user.is_staff) == ("ops@example.com", "Olga Ops", False)
    assert user.check_password(PASSWORD)
    assert capsys.readouterr().out == f"created ops@example.com ({user.id})\n"


def test_createuser_names_the_user_after_the_address_by_default() -> None:
    assert createuser() == 0

    assert User.objects.get().name == "Ops"


def test_createuser_with_staff_makes_platform_staff(capsys: pytest.CaptureFixture[str]) -> None:
    assert createuser("--name", "Olga Ops", "--staff") == 0

    assert User.objects.get().is_staff
    assert capsys.readouterr().out.endswith(" as staff\n")


def test_createuser_works_when_sign_up_is_closed(settings: object) -> None:
    settings.SIGNUP_OPEN = False  # type: ignore[attr-defined]

    assert createuser("--name", "Olga Ops") == 0
    assert User.objects.count() == 1


def test_a_duplicate_exits_1_with_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert createuser("--name", "Olga Ops") == 0
    capsys.readouterr()

    assert main(["createuser", "--email", "OPS@example.com", "--password", PASSWORD]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: An account with this email address already exists.\n"
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "not-an-email", "--password", PASSWORD], "error: Enter a valid email"),
        (["--email", "a@example.com", "--password", "short"], "error: This password is too short"),
        (
            ["--email", "a@example.com", "--password", PASSWORD, "--name", " "],
            "error: Enter a name",
        ),
    ],
)
def test_invalid_input_exits_1_and_creates_nobody(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["createuser", *args]) == 1

    assert capsys.readouterr().err.startswith(message)
    assert not User.objects.exists()


def test_createuser_needs_email_and_password(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["createuser", "--email", "a@example.com"])

    assert exited.value.code == 2
    assert "--password" in capsys.readouterr().err


def test_serve_runs_gunicorn_with_botyard_settings_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """`botyard serve` hands gunicorn botyard/gunicorn_conf.py, and gunicorn finds the
    child_exit hook there (which tidies up a killed worker's metric files)."""
    import sys

    from gunicorn.app.wsgiapp import WSGIApplication

    from botyard import gunicorn_conf
    from botyard.cli import _gunicorn_command

    command = _gunicorn_command("127.0.0.1", 8123, 3)
    # gunicorn reads its command line as it is built, config file included.
    monkeypatch.setattr(sys, "argv", ["gunicorn", *command[command.index("gunicorn") + 1 :]])
    configured = WSGIApplication().cfg

    assert configured.child_exit is gunicorn_conf.child_exit
    assert (configured.workers, configured.bind) == (3, ["127.0.0.1:8123"])


def test_migrate_refuses_an_sqlite_too_old_for_botyard(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.management.base import SystemCheckError
    from django.db import connection

    from botyard.messaging import checks

    if connection.vendor != "sqlite":
        pytest.skip("the check is about SQLite")
    monkeypatch.setattr(checks, "MINIMUM_SQLITE", (99, 0, 0))
    with pytest.raises(SystemCheckError, match=r"botyard\.E001"):
        main(["migrate"])
