"""The message path is answered by a plain Django view (messaging.endpoint) routed ahead
of the Ninja API, which still declares and documents the operation (ADR 0007). These
tests pin that the two agree: the documented contract, the same answers through Ninja's
own dispatch, and Ninja's reading of the Authorization header."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.test import Client
from ninja.testing import TestClient

from botyard.api import api
from botyard.messaging.endpoint import bearer_token
from botyard.messaging.models import Message
from tests.helpers import assert_problem
from tests.messaging.world import Channel, make_channel, messages_path, post_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel() -> Channel:
    return make_channel()


@pytest.fixture
def ninja_client() -> TestClient:
    """Ninja's dispatch of the declared operation, without the URL configuration."""
    return TestClient(api)


def _through_ninja(ninja: TestClient, channel: Channel, body: Any, **headers: str) -> Any:
    return ninja.post(
        f"/bots/{channel.bot.id}/messages",
        body=json.dumps(body),
        headers={"Authorization": f"Bearer {channel.key}", "Content-Type": "application/json",
                 **headers},
    )  # fmt: skip


def test_the_declared_operation_and_the_view_give_one_answer(
    client: Client, channel: Channel, ninja_client: TestClient
) -> None:
    body = {"user_id": "end-user-1", "text": "What are your opening hours?"}
    first = _through_ninja(ninja_client, channel, body, **{"Idempotency-Key": "delivery-1"})
    assert first.status_code == 200
    retry = post_message(client, channel.bot.id, channel.key, body, idempotency_key="delivery-1")
    assert retry.status_code == 200
    assert retry["Content-Type"] == "application/json; charset=utf-8"
    # The view replays what the Ninja operation stored, byte for byte.
    assert retry.content == first.content
    assert Message.objects.filter(bot=channel.bot).count() == 1


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        ({"text": "hello"}, "validation_error", ["user_id"]),
        ({"user_id": 7, "text": "hello"}, "validation_error", ["user_id"]),
        ({"user_id": "u", "text": "x" * 100_001}, "validation_error", ["text"]),
        ([1, 2], "validation_error", ["body"]),
    ],
)
def test_the_view_refuses_a_body_as_ninja_does(
    client: Client, channel: Channel, ninja_client: TestClient, body: Any, code: str,
    fields: list[str],
) -> None:  # fmt: skip
    by_ninja = _through_ninja(ninja_client, channel, body)
    by_view = post_message(client, channel.bot.id, channel.key, body)
    for response in (by_ninja, by_view):
        problem = assert_problem(response, 400, code)
        assert [error["field"] for error in problem["errors"]] == fields
    assert json.loads(by_view.content)["errors"] == json.loads(by_ninja.content)["errors"]
    assert Message.objects.count() == 0


def test_unparseable_json_is_malformed_json(client: Client, channel: Channel) -> None:
    response = post_message(client, channel.bot.id, channel.key, '{"user_id": ')
    assert_problem(response, 400, "malformed_json")
    assert Message.objects.count() == 0


def test_the_key_is_checked_before_the_body(client: Client, channel: Channel) -> None:
    response = post_message(client, channel.bot.id, None, "not json")
    problem = assert_problem(response, 401, "invalid_bot_key")
    assert response["WWW-Authenticate"] == "Bearer"
    assert problem["title"] == "Not authenticated"


def test_other_methods_are_405_problems(client: Client, channel: Channel) -> None:
    response = client.get(messages_path(channel.bot.id))
    assert_problem(response, 405)
    assert response["Allow"] == "POST"


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer by_abc", "by_abc"),
        ("bearer by_abc", "by_abc"),
        ("BEARER by_abc", "by_abc"),
        ("Bearer  by_abc", " by_abc"),  # as Ninja's HttpBearer reads it: no key matches
        ("Bearer", None),
        ("Bearer ", None),
        ("Token by_abc", None),
        ("", None),
        (None, None),
    ],
)
def test_the_bearer_token_is_read_as_ninja_reads_it(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_the_operation_is_documented(client: Client) -> None:
    schema = json.loads(client.get("/api/v1/openapi.json").content)
    operation = schema["paths"]["/api/v1/bots/{bot_id}/messages"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/MessageIn"}
    assert set(schema["components"]["schemas"]["MessageIn"]["required"]) == {"user_id", "text"}
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/MessageOut"}
    assert {"401", "409", "429"} <= operation["responses"].keys()
    assert any("Idempotency-Key" == p["name"] for p in operation["parameters"])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements of PostgreSQL")
def test_the_message_statements_are_prepared_once_per_connection(
    client: Client, channel: Channel
) -> None:
    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements ORDER BY statement")
            return [row[0] for row in cursor.fetchall()]

    body = {"user_id": "end-user-1", "text": "hello"}
    for key in ("first", "second", "third"):
        response = post_message(client, channel.bot.id, channel.key, body, idempotency_key=key)
        assert response.status_code == 200
        if key == "first":
            after_first = prepared()
    # The lookup and the write statement, prepared by the first message, reused after it.
    assert [s.split(" ")[0] for s in after_first] == ["SELECT", "WITH"]
    assert prepared() == after_first


def test_a_body_nested_too_deep_to_parse_is_malformed_json(
    client: Client, channel: Channel
) -> None:
    response = post_message(client, channel.bot.id, channel.key, "[" * 200_000)
    assert_problem(response, 400, "malformed_json")
    assert Message.objects.count() == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a server that drops connections")
@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_dropped_is_replaced_not_an_error(client: Client) -> None:
    channel = make_channel()
    body = {"user_id": "end-user-1", "text": "hello"}
    assert post_message(client, channel.bot.id, channel.key, body).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    with psycopg.connect(_libpq_url(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend])
    # What Django does when the next request starts (the test client leaves it out).
    connection.close_if_unusable_or_obsolete()
    assert post_message(client, channel.bot.id, channel.key, body).status_code == 200
    assert Message.objects.filter(bot=channel.bot).count() == 2


def _libpq_url() -> str:
    settings = connection.settings_dict
    return (
        f"host={settings['HOST'] or 'localhost'} port={settings['PORT'] or 5432} "
        f"user={settings['USER']} dbname={settings['NAME']}"
        + (f" password={settings['PASSWORD']}" if settings["PASSWORD"] else "")
    )
