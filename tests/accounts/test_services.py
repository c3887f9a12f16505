"""Account services: how users, passwords and tokens are stored, and the rules on names."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher, identify_hasher
from django.db import IntegrityError, transaction

import botyard.settings as production_settings
from botyard.accounts import services
from botyard.accounts.models import AccessToken, User
from botyard.core import clock
from botyard.core.errors import NotAuthenticated, ValidationFailed
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def column_values(row: Any) -> list[str]:
    return [str(field.value_from_object(row)) for field in row._meta.concrete_fields]


def test_tokens_are_stored_only_as_a_sha256_digest(user: User) -> None:
    token, secret = services.token_create(user=user, name="laptop")

    stored = AccessToken.objects.get(pk=token.pk)
    assert stored.digest == hashlib.sha256(secret.encode()).hexdigest()
    for row in (stored, User.objects.get(pk=user.pk)):
        assert all(secret not in value for value in column_values(row))
        assert all(secret[len(services.TOKEN_PREFIX) :] not in v for v in column_values(row))


def test_token_authenticate_finds_the_user_by_the_secret(user: User) -> None:
    _, secret = services.token_create(user=user, name="laptop")

    assert services.token_authenticate(secret) == user
    assert services.token_authenticate(secret + "x") is None
    assert services.token_authenticate(secret[len(services.TOKEN_PREFIX) :]) is None
    assert services.token_authenticate("byt_" + "a" * 300) is None


def test_last_use_is_written_at_most_once_a_minute(user: User) -> None:
    start = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    with clock.frozen(start):
        token, secret = services.token_create(user=user, name="laptop")
        services.token_authenticate(secret)
        clock.advance(dt.timedelta(seconds=59))
        services.token_authenticate(secret)
        assert AccessToken.objects.get(pk=token.pk).last_used_at == start

        clock.advance(dt.timedelta(seconds=1))
        services.token_authenticate(secret)
        assert AccessToken.objects.get(pk=token.pk).last_used_at == start + dt.timedelta(seconds=60)


@pytest.fixture
def production_hashers(settings: Any) -> None:
    settings.PASSWORD_HASHERS = production_settings.PASSWORD_HASHERS


def test_passwords_are_hashed_with_argon2(production_hashers: None) -> None:
    user = services.user_create(email="ada@example.com", password=PASSWORD, name="Ada")

    stored = User.objects.get(pk=user.pk)
    assert stored.password.startswith("argon2$argon2id$")
    assert type(identify_hasher(stored.password)) is Argon2PasswordHasher
    assert PASSWORD not in stored.password
    assert stored.check_password(PASSWORD)
    assert not stored.check_password(PASSWORD + "!")


def test_email_is_stored_trimmed_and_lower_cased() -> None:
    user = services.user_create(email="  Ada.Lovelace@Example.COM ", password=PASSWORD, name="A")

    assert User.objects.get(pk=user.pk).email == "ada.lovelace@example.com"


def test_the_database_enforces_case_insensitive_unique_email() -> None:
    User.objects.create(email="ada@example.com", name="Ada")

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="ADA@Example.com", name="Another Ada")

    assert User.objects.count() == 1


def test_sign_in_is_case_insensitive_on_the_email(make_user: Callable[..., User]) -> None:
    user = make_user(email="ada@example.com")

    assert services.user_sign_in(email=" ADA@example.com", password=PASSWORD, address="a") == user


def test_sign_in_refuses_an_inactive_user_like_a_wrong_password(
    make_user: Callable[..., User],
) -> None:
    user = make_user(email="ada@example.com")
    User.objects.filter(pk=user.pk).update(is_active=False)

    with pytest.raises(NotAuthenticated) as refused:
        services.user_sign_in(email="ada@example.com", password=PASSWORD, address="a")
    assert refused.value.code == "invalid_credentials"


def test_staff_users_are_created_as_staff() -> None:
    user = services.user_create(email="op@example.com", password=PASSWORD, name="Op", is_staff=True)

    assert user.is_staff and user.is_superuser


# --- names -------------------------------------------------------------------------------

BAD_NAMES = {
    "blank": "",
    "only spaces": "   ",
    "bell": "Ada\x07",
    "newline inside": "Ada\nLovelace",
    "tab inside": "Ada\tLovelace",
    "NUL": "Ada\x00",
    "zero-width space": "Ada\u200b",
    "right-to-left override": "\u202eAda",
    "65 characters": "a" * 65,
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_user_names_are_refused_when_blank_too_long_or_with_control_characters(
    name: str,
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        services.user_create(email="ada@example.com", password=PASSWORD, name=name)

    assert refused.value.errors[0]["field"] == "name"
    assert not User.objects.exists()


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_token_names_follow_the_same_rule(user: User, name: str) -> None:
    with pytest.raises(ValidationFailed):
        services.token_create(user=user, name=name)

    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("  Ada Lovelace  ", "Ada Lovelace"),
        ("\tAda\n", "Ada"),
        ("a" * 64, "a" * 64),
        (" " + "b" * 64 + " ", "b" * 64),
        ("Zoë Ångström 李", "Zoë Ångström 李"),
    ],
)
def test_names_are_trimmed_and_up_to_64_characters_long(given: str, stored: str) -> None:
    user = services.user_create(email="ada@example.com", password=PASSWORD, name=given)
    token, _ = services.token_create(user=user, name=given)

    assert User.objects.get(pk=user.pk).name == stored
    assert AccessToken.objects.get(pk=token.pk).name == stored
