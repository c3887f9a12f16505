"""The keyset paginator, on access tokens."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable

import pytest

from botyard.accounts.models import AccessToken, User
from botyard.core import clock
from botyard.core.errors import ValidationFailed
from botyard.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate
from tests.factories import token
from tests.helpers import ApiClient, assert_problem

pytestmark = pytest.mark.django_db

ORDER = ("-created_at", "-id")
T0 = dt.datetime(2026, 4, 1, 8, 0, tzinfo=dt.UTC)


def page_of(user: User, cursor: str | None, limit: int | None = 2) -> tuple[list[str], str | None]:
    queryset = AccessToken.objects.filter(user=user)
    page = paginate(queryset, order=ORDER, cursor=cursor, limit=limit)
    return [t.name for t in page.items], page.next_cursor


def make_tokens(user: User, names: list[str], *, step: dt.timedelta) -> None:
    for name in names:
        token(user=user, name=name)
        clock.advance(step)


def walk(user: User, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        names, cursor = page_of(user, cursor, limit)
        seen += names
        if cursor is None:
            return seen


def test_pages_follow_the_order_and_end_with_no_cursor(user: User) -> None:
    with clock.frozen(T0):
        make_tokens(user, ["a", "b", "c", "d", "e"], step=dt.timedelta(minutes=1))

    assert walk(user, 2) == ["e", "d", "c", "b", "a"]
    assert page_of(user, None, 5) == (["e", "d", "c", "b", "a"], None)


def test_pages_are_stable_when_rows_are_added_between_them(user: User) -> None:
    with clock.frozen(T0):
        make_tokens(user, ["a", "b", "c", "d", "e"], step=dt.timedelta(minutes=1))
        first, cursor = page_of(user, None)
        make_tokens(user, ["new 1", "new 2"], step=dt.timedelta(minutes=1))
        second, cursor = page_of(user, cursor)
        make_tokens(user, ["new 3"], step=dt.timedelta(minutes=1))
        third, cursor = page_of(user, cursor)

    assert (first, second, third, cursor) == (["e", "d"], ["c", "b"], ["a"], None)


def test_rows_with_the_same_time_are_each_seen_exactly_once(user: User) -> None:
    with clock.frozen(T0):
        make_tokens(user, [f"t{n}" for n in range(7)], step=dt.timedelta(0))

    seen = walk(user, 2)

    assert sorted(seen) == [f"t{n}" for n in range(7)]
    expected = list(
        AccessToken.objects.filter(user=user).order_by(*ORDER).values_list("name", flat=True)
    )
    assert seen == expected


def test_pages_are_scoped_by_the_queryset(user: User, make_user: Callable[..., User]) -> None:
    other = make_user()
    with clock.frozen(T0):
        make_tokens(user, ["mine"], step=dt.timedelta(minutes=1))
        make_tokens(other, ["theirs 1", "theirs 2"], step=dt.timedelta(minutes=1))

    assert walk(user, 1) == ["mine"]


def test_limits(user: User) -> None:
    with clock.frozen(T0):
        make_tokens(user, [f"t{n}" for n in range(3)], step=dt.timedelta(seconds=1))

    assert len(page_of(user, None, None)[0]) == 3
    assert DEFAULT_LIMIT == 50
    assert page_of(user, None, MAX_LIMIT)[1] is None
    for bad in (0, -1, MAX_LIMIT + 1):
        with pytest.raises(ValidationFailed) as refused:
            page_of(user, None, bad)
        assert refused.value.code == "invalid_limit"


def encode(values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


GARBAGE_CURSORS = {
    "not base64": "%%%not-base64%%%",
    "base64 of nonsense": base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
    "not a list": encode({"created_at": "2026-01-01T00:00:00+00:00"}),
    "too short": encode(["2026-01-01T00:00:00+00:00"]),
    "too long": encode(["2026-01-01T00:00:00+00:00", "tok_x", "extra"]),
    "not a time": encode(["yesterday", "tok_x"]),
    "a number for a time": encode([12, "tok_x"]),
    "a naive time": encode(["2026-01-01T00:00:00", "tok_x"]),
    "a null key": encode(["2026-01-01T00:00:00+00:00", None]),
    "a list as key": encode(["2026-01-01T00:00:00+00:00", ["tok_x"]]),
    "an object as key": encode(["2026-01-01T00:00:00+00:00", {"id": 1}]),
    "a NUL in the key": encode(["2026-01-01T00:00:00+00:00", "tok_\u0000"]),
    "only padding": "====",
}


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS.values(), ids=GARBAGE_CURSORS.keys())
def test_a_garbage_cursor_is_refused(user: User, cursor: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        page_of(user, cursor)

    assert refused.value.code == "invalid_cursor"
    assert refused.value.errors == [
        {"field": "cursor", "message": "The cursor is not one this server issued."}
    ]


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS.values(), ids=GARBAGE_CURSORS.keys())
def test_a_garbage_cursor_is_a_400_on_the_api(
    api_client: ApiClient, user_token: str, cursor: str
) -> None:
    response = api_client.get("/api/v1/auth/tokens", {"cursor": cursor}, token=user_token)

    assert_problem(response, 400, "invalid_cursor")
