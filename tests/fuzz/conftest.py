"""Fixtures of the API fuzz tests: the WSGI application called in-process on the test
database, and one prepared workspace per role, shared by the tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import override_settings
from pytest_django import DjangoDbBlocker

from botyard.workspaces.roles import Role
from tests.conftest import FAST_HASHERS
from tests.fuzz.world import FuzzWorld


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Iterator[None]:
    """The WSGI handler closes the database connection around each request, which would
    end the test's transaction; django.test.Client disconnects these handlers the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def worlds(
    django_db_setup: None, django_db_blocker: DjangoDbBlocker
) -> Iterator[dict[Role, FuzzWorld]]:
    """A FuzzWorld for each role, made once per module inside a transaction that is rolled
    back after the module's last test (what TestCase.setUpTestData does for a class). Each
    test's own transaction (the `db` fixture) nests in it as a savepoint."""
    outer = transaction.atomic()
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        outer.__enter__()
        made = {role: FuzzWorld(role) for role in Role}
    try:
        yield made
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
