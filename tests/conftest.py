"""Test environment and shared fixtures.

The environment defaults are set at import time, before botyard.settings loads: a
throwaway data dir, emails kept in memory, a fixed secret key. That is why the settings
module is named here and not in pyproject.toml: pytest-django would load it from there
before any conftest runs. Django is then set up right here, and pytest-django finds it so.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

if "BOTYARD_DATA_DIR" not in os.environ:
    _data_dir = tempfile.mkdtemp(prefix="botyard-test-")
    os.environ["BOTYARD_DATA_DIR"] = _data_dir
    atexit.register(shutil.rmtree, _data_dir, ignore_errors=True)
    # WhiteNoise warns about a missing STATIC_ROOT; the suite serves from the finders.
    os.makedirs(os.path.join(_data_dir, "static"), exist_ok=True)
os.environ.setdefault("EMAIL_URL", "locmem:")
os.environ.setdefault("SECRET_KEY", "botyard-test-secret-key-not-for-production")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botyard.settings")

import django
from hypothesis import settings as hypothesis_settings

django.setup()

# Property tests draw the same examples on every run (CI included), so that a failure
# reproduces; HYPOTHESIS_PROFILE=explore draws new ones, to look for more.
hypothesis_settings.register_profile("repeatable", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

import pytest  # noqa: E402
from django.test import Client  # noqa: E402

from botyard.accounts.models import User  # noqa: E402
from botyard.core import clock  # noqa: E402
from tests import factories  # noqa: E402
from tests.helpers import ApiClient  # noqa: E402

FAST_HASHERS = ["tests.hashers.FastArgon2PasswordHasher"]


@pytest.fixture(autouse=True)
def _fast_settings(settings: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    # Every django.test.Client builds its own middleware chain, and WhiteNoise would index
    # each static file (Django admin's too) every time; with autorefresh it looks a file up
    # when one is asked for, the same answer for a fraction of the cost.
    settings.WHITENOISE_AUTOREFRESH = True


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    yield
    clock.reset()


@pytest.fixture
def api_client(client: Client) -> ApiClient:
    return ApiClient(client)


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    return factories.user


@pytest.fixture
def make_token(db: None) -> Callable[..., str]:
    return factories.token_secret


@pytest.fixture
def user(make_user: Callable[..., User]) -> User:
    return make_user()


@pytest.fixture
def user_token(user: User, make_token: Callable[..., str]) -> str:
    return make_token(user=user)
