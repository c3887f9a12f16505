"""The Accounts endpoints of api.md, with their codes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from botyard.accounts import throttling
from botyard.accounts.models import AccessToken, FailedAttempt, User
from botyard.core import clock
from tests.factories import PASSWORD
from tests.helpers import ApiClient, assert_problem

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
T0_TEXT = "2026-03-01T09:30:00Z"
SIGNUP = "/api/v1/auth/signup"
TOKENS = "/api/v1/auth/tokens"
ME = "/api/v1/me"


def signup_body(**overrides: str) -> dict[str, str]:
    return {"email": "ada@example.com", "password": PASSWORD, "name": "Ada"} | overrides


def body(response: object) -> dict[str, object]:
    return json.loads(response.content)  # type: ignore[attr-defined]


# --- POST /auth/signup -------------------------------------------------------------------


def test_signup_answers_201_with_the_user(api_client: ApiClient) -> None:
    with clock.frozen(T0):
        response = api_client.post(SIGNUP, signup_body(email="  Ada@Example.COM "))

    assert response.status_code == 201
    assert response["Content-Type"] == "application/json; charset=utf-8"
    data = body(response)
    assert data.keys() == {"id", "email", "name", "created_at"}
    user = User.objects.get()
    assert data == {
        "id": user.id,
        "email": "ada@example.com",
        "name": "Ada",
        "created_at": T0_TEXT,
    }
    assert isinstance(data["id"], str) and not data["id"].isdigit()
    assert user.check_password(PASSWORD)


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@example.com", "Ada@Example.Com"])
def test_signup_with_a_taken_email_is_409_also_when_only_the_case_differs(
    api_client: ApiClient, email: str
) -> None:
    assert api_client.post(SIGNUP, signup_body()).status_code == 201

    response = api_client.post(SIGNUP, signup_body(email=email, name="Another Ada"))

    problem = assert_problem(response, 409, "email_taken")
    assert problem["errors"] == [
        {"field": "email", "message": "An account with this email already exists."}
    ]
    assert list(User.objects.values_list("name", flat=True)) == ["Ada"]


@pytest.mark.parametrize("password", ["short", "12345678901234", "password123", "ada@example.com"])
def test_signup_with_a_weak_password_is_400(api_client: ApiClient, password: str) -> None:
    response = api_client.post(SIGNUP, signup_body(password=password))

    problem = assert_problem(response, 400, "weak_password")
    assert [e["field"] for e in problem["errors"]] == ["password"]
    assert not User.objects.exists()


@pytest.mark.parametrize("email", ["not-an-email", "ada@", "@example.com", "", "a b@example.com"])
def test_signup_with_a_bad_email_is_400(api_client: ApiClient, email: str) -> None:
    response = api_client.post(SIGNUP, signup_body(email=email))

    problem = assert_problem(response, 400, "invalid_email")
    assert problem["errors"] == [{"field": "email", "message": "Enter a valid email address."}]
    assert not User.objects.exists()


def test_signup_with_missing_fields_is_a_validation_error(api_client: ApiClient) -> None:
    response = api_client.post(SIGNUP, {"email": "ada@example.com"})

    problem = assert_problem(response, 400, "validation_error")
    assert {e["field"] for e in problem["errors"]} == {"password", "name"}
    assert not User.objects.exists()


def test_signup_when_closed_is_403(api_client: ApiClient, settings: object) -> None:
    settings.SIGNUP_OPEN = False  # type: ignore[attr-defined]

    response = api_client.post(SIGNUP, signup_body())

    assert_problem(response, 403, "signup_closed")
    assert not User.objects.exists()


# --- POST /auth/tokens -------------------------------------------------------------------


def token_body(**overrides: str) -> dict[str, str]:
    return {"email": "user@example.com", "password": PASSWORD, "name": "laptop"} | overrides


@pytest.fixture
def account(make_user: Callable[..., User]) -> User:
    return make_user(email="user@example.com")


def test_token_create_answers_201_and_shows_the_token_only_there(
    api_client: ApiClient, account: User
) -> None:
    with clock.frozen(T0):
        response = api_client.post(TOKENS, token_body(email="USER@example.com"))

    assert response.status_code == 201
    created = body(response)
    token = AccessToken.objects.get()
    assert created.keys() == {"id", "name", "token", "created_at"}
    assert created["id"] == token.id
    assert created["name"] == "laptop"
    assert created["created_at"] == T0_TEXT
    secret = created["token"]
    assert isinstance(secret, str) and secret.startswith("byt_")

    listed = api_client.get(TOKENS, token=secret)
    assert listed.status_code == 200
    assert secret not in listed.content.decode()
    assert all("token" not in item for item in body(listed)["items"])  # type: ignore[attr-defined]


def test_unknown_email_and_wrong_password_get_the_same_401(
    api_client: ApiClient, account: User
) -> None:
    unknown = api_client.post(TOKENS, token_body(email="nobody@example.com"))
    wrong = api_client.post(TOKENS, token_body(password="not-the-password-7"))

    assert_problem(unknown, 401, "invalid_credentials")
    assert_problem(wrong, 401, "invalid_credentials")
    assert body(unknown) == body(wrong)
    assert not AccessToken.objects.exists()


def fail_sign_ins(api_client: ApiClient, times: int, **extra: str) -> None:
    for _ in range(times):
        response = api_client.post(TOKENS, token_body(password="wrong-guess-123"), **extra)
        assert_problem(response, 401, "invalid_credentials")


def test_repeated_failures_are_throttled_with_retry_after(
    api_client: ApiClient, account: User
) -> None:
    with clock.frozen(T0):
        fail_sign_ins(api_client, 5)
        # The right password too: the pair is blocked before the password is looked at.
        response = api_client.post(TOKENS, token_body())

    assert_problem(response, 429, "too_many_attempts")
    assert response["Retry-After"] == str(int(throttling.WINDOW.total_seconds()) + 1)
    assert not AccessToken.objects.exists()


def test_the_throttle_expires_after_its_window(api_client: ApiClient, account: User) -> None:
    with clock.frozen(T0):
        fail_sign_ins(api_client, 5)
        retry_after = int(api_client.post(TOKENS, token_body())["Retry-After"])

        clock.advance(dt.timedelta(seconds=retry_after - 2))
        assert_problem(api_client.post(TOKENS, token_body()), 429, "too_many_attempts")

        clock.advance(dt.timedelta(seconds=2))
        assert api_client.post(TOKENS, token_body()).status_code == 201


def test_the_pair_bucket_does_not_block_the_right_password_from_another_address(
    api_client: ApiClient, account: User
) -> None:
    with clock.frozen(T0):
        fail_sign_ins(api_client, 5, REMOTE_ADDR="203.0.113.7")
        blocked = api_client.post(TOKENS, token_body(), REMOTE_ADDR="203.0.113.7")
        elsewhere = api_client.post(TOKENS, token_body(), REMOTE_ADDR="198.51.100.20")

    assert_problem(blocked, 429, "too_many_attempts")
    assert elsewhere.status_code == 201


def test_the_account_bucket_blocks_guesses_spread_over_addresses(
    api_client: ApiClient, account: User
) -> None:
    with clock.frozen(T0):
        for n in range(4):
            fail_sign_ins(api_client, 5, REMOTE_ADDR=f"203.0.113.{n}")
        response = api_client.post(TOKENS, token_body(), REMOTE_ADDR="198.51.100.20")

    assert_problem(response, 429, "too_many_attempts")


def test_a_successful_sign_in_clears_the_pair_bucket(api_client: ApiClient, account: User) -> None:
    with clock.frozen(T0):
        fail_sign_ins(api_client, 4)
        assert api_client.post(TOKENS, token_body()).status_code == 201
        fail_sign_ins(api_client, 4)
        assert api_client.post(TOKENS, token_body(name="second")).status_code == 201

    assert not FailedAttempt.objects.filter(key__startswith="pair:").exists()


def test_token_create_with_a_blank_name_is_400(api_client: ApiClient, account: User) -> None:
    response = api_client.post(TOKENS, token_body(name="   "))

    problem = assert_problem(response, 400, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["name"]
    assert not AccessToken.objects.exists()


# --- GET /auth/tokens --------------------------------------------------------------------


def test_token_list_shape(api_client: ApiClient, account: User) -> None:
    with clock.frozen(T0):
        secret = body(api_client.post(TOKENS, token_body(name="ci")))["token"]
        response = api_client.get(TOKENS, token=secret)  # type: ignore[arg-type]

    assert response.status_code == 200
    token = AccessToken.objects.get()
    assert body(response) == {
        "items": [{"id": token.id, "name": "ci", "created_at": T0_TEXT, "last_used_at": T0_TEXT}],
        "next_cursor": None,
    }


def test_token_list_pages_with_a_cursor(
    api_client: ApiClient, account: User, make_token: Callable[..., str]
) -> None:
    secrets = []
    with clock.frozen(T0):
        for name in ("one", "two", "three"):
            secrets.append(make_token(user=account, name=name))
            clock.advance(dt.timedelta(minutes=1))

    first = body(api_client.get(TOKENS, {"limit": 2}, token=secrets[0]))
    assert [item["name"] for item in first["items"]] == ["three", "two"]  # type: ignore[attr-defined]
    assert isinstance(first["next_cursor"], str)

    second = body(
        api_client.get(TOKENS, {"limit": 2, "cursor": first["next_cursor"]}, token=secrets[0])
    )
    assert [item["name"] for item in second["items"]] == ["one"]  # type: ignore[attr-defined]
    assert second["next_cursor"] is None

    ids = [item["id"] for page in (first, second) for item in page["items"]]  # type: ignore[attr-defined]
    assert sorted(ids) == sorted(AccessToken.objects.values_list("id", flat=True))


def test_token_list_shows_only_my_tokens(
    api_client: ApiClient,
    account: User,
    make_user: Callable[..., User],
    make_token: Callable[..., str],
) -> None:
    mine = make_token(user=account, name="mine")
    make_token(user=make_user(), name="theirs")

    items = body(api_client.get(TOKENS, token=mine))["items"]

    assert [item["name"] for item in items] == ["mine"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("limit", ["0", "201", "-1"])
def test_token_list_refuses_a_limit_out_of_range(
    api_client: ApiClient, user_token: str, limit: str
) -> None:
    response = api_client.get(TOKENS, {"limit": limit}, token=user_token)

    assert_problem(response, 400, "invalid_limit")


def test_token_list_needs_no_more_queries_for_more_rows(
    api_client: ApiClient, account: User, make_token: Callable[..., str]
) -> None:
    secret = make_token(user=account)
    api_client.get(ME, token=secret)  # records last use, so it is not written again below

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api_client.get(TOKENS, token=secret).status_code == 200
        return len(queries)

    few = count_queries()
    for n in range(10):
        make_token(user=account, name=f"extra {n}")
    assert count_queries() == few


# --- DELETE /auth/tokens/{id} ------------------------------------------------------------


def test_token_revoke_answers_204_and_the_token_stops_working(
    api_client: ApiClient, account: User, make_token: Callable[..., str]
) -> None:
    keeper = make_token(user=account, name="keeper")
    doomed = make_token(user=account, name="doomed")
    doomed_id = AccessToken.objects.get(name="doomed").id

    response = api_client.delete(f"{TOKENS}/{doomed_id}", token=keeper)

    assert response.status_code == 204
    assert response.content == b""
    assert_problem(api_client.get(ME, token=doomed), 401, "not_authenticated")
    assert api_client.get(ME, token=keeper).status_code == 200
    assert list(AccessToken.objects.values_list("name", flat=True)) == ["keeper"]


def test_a_token_can_revoke_itself(api_client: ApiClient, account: User, user_token: str) -> None:
    token_id = AccessToken.objects.get().id

    assert api_client.delete(f"{TOKENS}/{token_id}", token=user_token).status_code == 204
    assert_problem(api_client.get(ME, token=user_token), 401, "not_authenticated")


def test_revoking_another_users_token_is_404_and_changes_nothing(
    api_client: ApiClient,
    account: User,
    make_user: Callable[..., User],
    make_token: Callable[..., str],
) -> None:
    mine = make_token(user=account)
    theirs = make_token(user=make_user(), name="theirs")
    their_id = AccessToken.objects.get(name="theirs").id

    response = api_client.delete(f"{TOKENS}/{their_id}", token=mine)

    assert_problem(response, 404, "token_not_found")
    assert AccessToken.objects.filter(id=their_id).exists()
    assert api_client.get(ME, token=theirs).status_code == 200


def test_revoking_an_unknown_token_is_404(api_client: ApiClient, user_token: str) -> None:
    response = api_client.delete(f"{TOKENS}/tok_doesnotexist", token=user_token)

    assert_problem(response, 404, "token_not_found")
    assert AccessToken.objects.count() == 1


# --- GET /me -----------------------------------------------------------------------------


@pytest.fixture
def ada(make_user: Callable[..., User]) -> User:
    with clock.frozen(T0):
        return make_user(email="ada@example.com", name="Ada")


ADA = {"email": "ada@example.com", "name": "Ada", "created_at": T0_TEXT}


def test_me_with_a_token(api_client: ApiClient, ada: User, make_token: Callable[..., str]) -> None:
    response = api_client.get(ME, token=make_token(user=ada))

    assert response.status_code == 200
    assert body(response) == {"id": ada.id, **ADA}


def test_me_with_a_session(client: Client, ada: User) -> None:
    client.force_login(ada)

    response = client.get(ME)

    assert response.status_code == 200
    assert body(response) == {"id": ada.id, **ADA}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer ",
        "Bearer byt_not-a-real-token",
        "Bearer nonsense",
        "Basic Zm9vOmJhcg==",
    ],
)
def test_me_without_valid_credentials_is_401(
    api_client: ApiClient, user_token: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = api_client.get(ME, headers=headers)

    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_deactivated_users_token_stops_working(
    api_client: ApiClient, user: User, user_token: str
) -> None:
    User.objects.filter(pk=user.pk).update(is_active=False)

    assert_problem(api_client.get(ME, token=user_token), 401, "not_authenticated")


def test_last_used_at_is_set_when_a_token_is_used(
    api_client: ApiClient, user: User, make_token: Callable[..., str]
) -> None:
    with clock.frozen(T0):
        secret = make_token(user=user)
    assert AccessToken.objects.get().last_used_at is None

    used_at = T0 + dt.timedelta(hours=2)
    with clock.frozen(used_at):
        assert api_client.get(ME, token=secret).status_code == 200

    assert AccessToken.objects.get().last_used_at == used_at


# --- sessions and CSRF -------------------------------------------------------------------


def test_a_session_call_without_csrf_token_is_refused(
    user: User, make_token: Callable[..., str]
) -> None:
    make_token(user=user)
    token_id = AccessToken.objects.get().id
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    response = browser.delete(f"{TOKENS}/{token_id}")

    assert_problem(response, 403, "csrf_failed")
    assert AccessToken.objects.filter(id=token_id).exists()


def test_a_session_call_with_the_csrf_token_goes_through(
    user: User, make_token: Callable[..., str]
) -> None:
    make_token(user=user)
    token_id = AccessToken.objects.get().id
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get("/")  # any page sets the CSRF cookie
    csrf_token = browser.cookies["csrftoken"].value

    response = browser.delete(f"{TOKENS}/{token_id}", headers={"X-CSRFToken": csrf_token})

    assert response.status_code == 204
    assert not AccessToken.objects.exists()


def test_an_unsafe_call_with_neither_session_nor_token_is_401_not_a_csrf_failure(
    user: User, make_token: Callable[..., str]
) -> None:
    make_token(user=user)
    token_id = AccessToken.objects.get().id
    stranger = Client(enforce_csrf_checks=True)

    for headers in ({}, {"Authorization": "Bearer byt_forged"}):
        response = stranger.delete(f"{TOKENS}/{token_id}", headers=headers)
        assert_problem(response, 401, "not_authenticated")

    assert AccessToken.objects.filter(id=token_id).exists()


def test_a_bearer_token_needs_no_csrf_token(
    api_client: ApiClient, user: User, user_token: str
) -> None:
    browser = ApiClient(Client(enforce_csrf_checks=True))
    token_id = AccessToken.objects.get().id

    assert browser.delete(f"{TOKENS}/{token_id}", token=user_token).status_code == 204
