"""Fixtures of the billing tests. None is autouse: each module says what it uses
(`pytestmark = pytest.mark.usefixtures(...)`), so that other tests here are unaffected."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest

from botyard.cli import main
from botyard.core import clock
from tests.billing.world import T0

IMMEDIATE_TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def t0() -> Iterator[None]:
    """The clock stands at T0 until the test moves it (clock.advance)."""
    with clock.frozen(T0):
        yield


@pytest.fixture
def immediate_tasks(settings: Any) -> None:
    """Queued work (the usage alert emails) runs when it is enqueued, i.e. when the
    transaction that counted the message commits."""
    settings.TASKS = IMMEDIATE_TASKS


@pytest.fixture
def cli() -> Callable[..., int]:
    """`botyard.cli.main`, with Django's logging left as the test run configured it: set up
    again inside a test, it would log to the stream pytest captured for that test alone."""

    def run(*args: str) -> int:
        with mock.patch("django.utils.log.configure_logging"):
            return main(list(args))

    return run
