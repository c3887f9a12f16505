"""The message path is answered ahead of Django's middleware chain (messaging/fast_path.py,
ADR 0010). These tests pin that it answers as Django's full handler would: the same
status, headers and body for every outcome, the same logging, metrics and request
signals, and that whatever it does not handle itself reaches Django untouched."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import RequestFactory, override_settings
from django.urls import resolve

from botyard.core.metrics import REQUESTS
from botyard.messaging import endpoint, services
from botyard.messaging.fast_path import ROUTE, MessageFastPath
from botyard.messaging.models import Message
from botyard.wsgi import application
from tests.messaging.world import Channel, make_channel, messages_path

pytestmark = pytest.mark.django_db

Environ = dict[str, Any]
DJANGO = application.django  # Django's own handler, which the fast path hands on to


@dataclass(frozen=True)
class Answer:
    status: str
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def environ(
    path: str, body: bytes | str = b"", *, method: str = "POST", key: str | None = None,
    content_type: str = "application/json", **headers: str,
) -> Environ:  # fmt: skip
    """A WSGI environ as a server hands it over (built by Django's RequestFactory)."""
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = RequestFactory().generic(
        method, path, body, content_type=content_type, headers=headers
    )
    return dict(request.environ)


def message_environ(channel: Channel, body: Any, **headers: str) -> Environ:
    raw = body if isinstance(body, str) else json.dumps(body)
    return environ(channel.path, raw, key=channel.key, **headers)


def call(app: Callable[..., Any], env: Environ) -> Answer:
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started.update(status=status, headers=headers)

    iterable = app(env, start_response)
    try:
        body = b"".join(iterable)
    finally:
        iterable.close()  # sends request_finished, as a WSGI server does
    return Answer(started["status"], sorted(started["headers"]), body)


@pytest.fixture(autouse=True)
def connections_kept() -> Iterator[None]:
    """As Django's test client does: the request signals would otherwise close the
    connection that holds the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def channel() -> Channel:
    return make_channel()


@pytest.fixture
def django_only(monkeypatch: pytest.MonkeyPatch) -> list[Environ]:
    """Records each request the fast path hands on to Django's handler."""
    handed_on: list[Environ] = []
    django = application.django

    def recording(env: Environ, start_response: Any) -> Any:
        handed_on.append(env)
        return django(env, start_response)

    monkeypatch.setattr(application, "django", recording)
    return handed_on


def _masked(answer: Answer) -> Any:
    """An accepted message's answer without what differs between two messages."""
    body = answer.json()
    return {
        **body,
        "message_id": "…",
        "conversation_id": "…",
        "usage": {**body["usage"], "used": 0},
    }


def test_an_accepted_message_is_answered_without_django_and_as_django_answers(
    channel: Channel, django_only: list[Environ]
) -> None:
    body = {"user_id": "end-user-1", "text": "What are your opening hours?"}
    fast = call(application, message_environ(channel, body))
    assert django_only == []
    assert fast.status == "200 OK"
    assert fast.json()["usage"]["used"] == 1
    assert channel.stored() == 1 and channel.used() == 1

    full = call(DJANGO, message_environ(channel, body))
    assert full.status == fast.status
    assert full.headers == fast.headers
    assert _masked(full) == _masked(fast)
    assert full.json()["usage"]["used"] == 2
    assert channel.stored() == 2 and channel.used() == 2


REFUSALS: dict[str, Callable[[Channel], Environ]] = {
    "no key": lambda c: environ(c.path, json.dumps({"user_id": "u", "text": "hi"})),
    "wrong key": lambda c: environ(c.path, json.dumps({"user_id": "u", "text": "hi"}), key="x"),
    "key of another bot": lambda c: environ(
        messages_path("bot_00000000000000000000000000"),
        json.dumps({"user_id": "u", "text": "hi"}),
        key=c.key,
    ),
    "malformed JSON": lambda c: message_environ(c, '{"user_id": '),
    "body not an object": lambda c: message_environ(c, "[1, 2]"),
    "missing text": lambda c: message_environ(c, {"user_id": "u"}),
    "empty text": lambda c: message_environ(c, {"user_id": "u", "text": ""}),
    "bad idempotency key": lambda c: message_environ(
        c, {"user_id": "u", "text": "hi"}, **{"Idempotency-Key": "k" * 256}
    ),
    "unknown conversation": lambda c: message_environ(
        c, {"user_id": "u", "text": "hi", "conversation_id": "conv_unknown"}
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refusal_is_the_same_through_both(
    case: str, channel: Channel, django_only: list[Environ], caplog: pytest.LogCaptureFixture
) -> None:
    make = REFUSALS[case]
    with caplog.at_level(logging.WARNING, logger="django.request"):
        fast = call(application, make(channel))
        fast_logged = [(r.levelname, r.getMessage()) for r in caplog.records]
        caplog.clear()
        assert django_only == []
        full = call(DJANGO, make(channel))
        full_logged = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert fast.status[:1] == "4"
    assert (fast.status, fast.headers, fast.body) == (full.status, full.headers, full.body)
    assert fast_logged == full_logged and len(fast_logged) == 1
    assert channel.stored() == 0 and channel.used() == 0


def test_limits_publishing_and_replays_are_the_same_through_both(
    channel: Channel, django_only: list[Environ]
) -> None:
    body = {"user_id": "u", "text": "How much does it cost?"}
    first = call(application, message_environ(channel, body, **{"Idempotency-Key": "d-1"}))
    assert first.status == "200 OK"
    for app in (application, DJANGO):  # a replay, byte for byte
        replay = call(app, message_environ(channel, body, **{"Idempotency-Key": "d-1"}))
        assert (replay.status, replay.body) == (first.status, first.body)
        assert replay.headers == first.headers
    reused = [
        call(app, message_environ(channel, {**body, "text": "other"}, **{"Idempotency-Key": "d-1"}))
        for app in (application, DJANGO)
    ]
    assert reused[0] == reused[1] and reused[0].status.startswith("409")
    assert reused[0].json()["code"] == "idempotency_key_reused"

    channel.set_message_limit(1)
    at_limit = [call(app, message_environ(channel, body)) for app in (application, DJANGO)]
    assert at_limit[0] == at_limit[1] and at_limit[0].status.startswith("429")
    assert at_limit[0].json()["code"] == "message_limit_reached"
    assert int(dict(at_limit[0].headers)["Retry-After"]) > 0

    draft = channel.add_bot("Draft", publish=False)
    unpublished = [call(app, message_environ(draft, body)) for app in (application, DJANGO)]
    assert unpublished[0] == unpublished[1] and unpublished[0].status.startswith("409")
    assert unpublished[0].json()["code"] == "bot_not_published"
    assert django_only == []
    assert channel.stored() == 1 and channel.used() == 1


HANDED_ON: dict[str, Callable[[Channel], Environ]] = {
    "another method": lambda c: environ(c.path, method="GET", key=c.key),
    "a trailing slash": lambda c: environ(
        c.path + "/", json.dumps({"user_id": "u", "text": "hi"}), key=c.key
    ),
    "a cookie": lambda c: message_environ(c, {"user_id": "u", "text": "hi"}, Cookie="sessionid=x"),
    "a NUL in the query": lambda c: {
        **message_environ(c, {"user_id": "u", "text": "hi"}),
        "QUERY_STRING": "a=%00",
    },
    "a body not JSON": lambda c: environ(
        c.path, "user_id=u", key=c.key, content_type="application/x-www-form-urlencoded"
    ),
    "a body too large": lambda c: {
        **message_environ(c, {"user_id": "u", "text": "hi"}),
        "CONTENT_LENGTH": str(2 * 1024 * 1024),
    },
    "another path": lambda c: environ("/api/v1/bots/x/messages/extra", "{}", key=c.key),
    "a path without its leading slash": lambda c: {
        **message_environ(c, {"user_id": "u", "text": "hi"}),
        "PATH_INFO": c.path.replace("/", "X", 1),
    },
    "a script prefix": lambda c: {
        **message_environ(c, {"user_id": "u", "text": "hi"}),
        "SCRIPT_NAME": "/botyard",
    },
    "a query of too many fields": lambda c: {
        **message_environ(c, {"user_id": "u", "text": "hi"}),
        "QUERY_STRING": "&".join(["a=1"] * 1001),
    },
}


@pytest.mark.parametrize("case", list(HANDED_ON))
def test_what_it_does_not_answer_goes_to_django_unchanged(
    case: str, channel: Channel, django_only: list[Environ]
) -> None:
    make = HANDED_ON[case]
    through = call(application, make(channel))
    assert len(django_only) == 1
    direct = call(DJANGO, make(channel))
    if dict(direct.headers)["Content-Type"].startswith("text/html"):
        # Django's own error page, with a CSRF token of its own each time
        assert through.status == direct.status
        assert [n for n, _ in through.headers] == [n for n, _ in direct.headers]
        assert channel.stored() == 0
        return
    assert (through.status, through.headers) == (direct.status, direct.headers)
    if through.status == "200 OK":  # (with a cookie) two messages, told apart by ids
        assert _masked(through) == _masked(direct)
        assert channel.stored() == 2
    else:
        assert through.body == direct.body
        assert channel.stored() == 0


@override_settings(DEBUG=True)
def test_debug_turns_it_off() -> None:
    assert not MessageFastPath(WSGIHandler()).enabled


def test_another_middleware_chain_turns_it_off() -> None:
    from django.conf import settings

    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, "tests.SomeMiddleware"]):
        assert not MessageFastPath(application.django).enabled
    assert MessageFastPath(application.django).enabled


def test_an_unexpected_error_is_a_problem_as_through_django(
    channel: Channel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "message_ingest", broken)
    body = {"user_id": "u", "text": "hi"}
    with caplog.at_level(logging.ERROR):
        fast = call(application, message_environ(channel, body))
        full = call(DJANGO, message_environ(channel, body))
    assert fast == full
    assert fast.status.startswith("500")
    assert fast.json()["detail"] == "An unexpected error occurred."
    assert [r.getMessage() for r in caplog.records if r.name == "botyard.api"] == [
        f"unhandled error on POST {channel.path}"
    ] * 2


@pytest.fixture
def finished() -> Iterator[list[Any]]:
    sent: list[Any] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        sent.append(sender)

    signals.request_finished.connect(receiver)
    yield sent
    signals.request_finished.disconnect(receiver)


def test_metrics_and_request_signals_as_through_django(
    channel: Channel, finished: list[Any]
) -> None:
    assert resolve(channel.path).route == ROUTE
    counted = REQUESTS.labels(route=ROUTE, method="POST", status=200)
    before = counted._value.get()
    answer = call(application, message_environ(channel, {"user_id": "u", "text": "hi"}))
    assert answer.status == "200 OK"
    assert counted._value.get() == before + 1
    assert finished == [WSGIHandler]
    assert Message.objects.filter(bot=channel.bot).count() == 1


def test_cookies_the_view_sets_are_sent_as_through_django(
    channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = endpoint.answer

    def with_cookie(*args: Any, **kwargs: Any) -> Any:
        response = answer(*args, **kwargs)
        response.set_cookie("seen", "1")
        return response

    monkeypatch.setattr(endpoint, "answer", with_cookie)
    fast = call(application, message_environ(channel, {"user_id": "u", "text": "hi"}))
    full = call(DJANGO, message_environ(channel, {"user_id": "u", "text": "hi"}))
    assert ("Set-Cookie", " seen=1; Path=/") in fast.headers
    assert fast.headers == full.headers


def test_request_started_is_given_the_servers_environ(channel: Channel) -> None:
    given: list[Any] = []

    def receiver(sender: Any, environ: Any, **kwargs: Any) -> None:
        given.append(environ)

    env = message_environ(channel, {"user_id": "u", "text": "hi"})
    signals.request_started.connect(receiver)
    try:
        assert call(application, env).status == "200 OK"
    finally:
        signals.request_started.disconnect(receiver)
    assert len(given) == 1 and given[0] is env
