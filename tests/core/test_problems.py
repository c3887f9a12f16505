"""Every /api/ path answers every malformed request with a problem document, never a 500.

The operations come from the API's own OpenAPI document, so a new endpoint is covered the
day it is mounted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botyard.accounts.models import User
from botyard.api import api
from botyard.core.middleware import MAX_API_BODY
from tests.helpers import assert_never_5xx, assert_problem

pytestmark = pytest.mark.django_db

SCHEMA = api.get_openapi_schema()
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def concrete(path: str) -> str:
    """The path with every parameter filled by an id that exists nowhere."""
    return re.sub(r"\{[^}]+\}", "zz_missing", path)


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.rsplit("/", 1)[-1]
    return dict(SCHEMA["components"]["schemas"][name])


def body_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    schema = content["application/json"]["schema"]
    # An optional body is documented as anyOf [the schema, null].
    for option in schema.get("anyOf", []):
        if "$ref" in option:
            return resolve(option)
    return resolve(schema)


Operation = tuple[str, str, dict[str, Any]]
ALL_OPERATIONS: list[Operation] = [
    (method.upper(), path, operation)
    for path, item in SCHEMA["paths"].items()
    for method, operation in item.items()
]


def operations(keep: Callable[[Operation], bool] = lambda _: True) -> list[Any]:
    return [pytest.param(*o, id=f"{o[0]} {o[1]}") for o in ALL_OPERATIONS if keep(o)]


def for_users(o: Operation) -> bool:
    """Open, or open to a personal access token: the suite's token gets past authentication
    (the message endpoint takes bot keys instead, and answers the token with a 401)."""
    security = o[2].get("security")
    return not security or any("TokenAuth" in option for option in security)


def has_body(o: Operation) -> bool:
    return body_schema(o[2]) is not None


OPERATIONS = operations()
SECURED = operations(lambda o: bool(o[2].get("security")))
FOR_OTHER_CREDENTIALS = operations(lambda o: not for_users(o))
WITH_BODY = operations(lambda o: for_users(o) and has_body(o))
# Only a body with a required field is refused whole: Django Ninja reads any JSON value
# (`[]`, `42`) as an empty object where every field is optional.
REQUIRED_FIELDS = operations(
    lambda o: for_users(o) and has_body(o) and bool((body_schema(o[2]) or {}).get("required"))
)
BODY_METHOD_OPERATIONS = operations(lambda o: o[0] in BODY_METHODS)
WITH_PATH_PARAMETERS = operations(lambda o: "{" in o[1])
LIMITED = operations(
    lambda o: for_users(o) and any(p["name"] == "limit" for p in o[2].get("parameters", []))
)
PATHS = [pytest.param(path, item, id=path) for path, item in SCHEMA["paths"].items()]
UNKNOWN_PATHS = [
    "/api",
    "/api/",
    "/api/zzz",
    "/api/v1",
    "/api/v1/",
    "/api/v1/nope",
    "/api/v1/nope/deeper",
    "/api/v2/me",
    "/api/v1/me/",
    "/api/v1/auth/tokens/",
]


def test_the_document_lists_the_accounts_endpoints() -> None:
    """A guard for the parametrisation below: it must see the real routes."""
    assert {"/api/v1/auth/signup", "/api/v1/auth/tokens", "/api/v1/me"} <= SCHEMA["paths"].keys()
    assert len(SECURED) >= 3 and len(REQUIRED_FIELDS) >= 2 and len(LIMITED) >= 1


@pytest.fixture
def token(user: User, make_token: Callable[..., str]) -> str:
    return make_token(user=user)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def send(
    method: str,
    path: str,
    body: str | bytes = b"",
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Any:
    return Client().generic(
        method, path, body, content_type=content_type, headers=headers or {}, **extra
    )


def each(cases: Iterable[Any], check: Callable[[Any], None]) -> None:
    """Run `check` on every case and report every case that fails, not only the first."""
    failures = []
    for case in cases:
        try:
            check(case)
        except AssertionError as error:
            failures.append(f"{case!r}: {error}")
    assert not failures, "\n".join(failures)


# --- authentication ----------------------------------------------------------------------

FORGED_AUTHORIZATIONS = [None, "Bearer byt_forged", "Bearer", "Token abc", "Bearer \u00e9"]


PLAIN_VALUES = {
    "string": "x",
    "integer": 1,
    "number": 1,
    "boolean": True,
    "array": [],
    "object": {},
}


def plausible_body(operation: dict[str, Any]) -> bytes:
    """A body of the right shape (every required field with a value of its type), so that
    only the credentials are wrong."""
    schema = body_schema(operation)
    if schema is None:
        return b"{}"
    body = {}
    for name in schema.get("required", []):
        types = allowed_types(schema["properties"][name]) or {"string"}
        body[name] = next((v for t, v in PLAIN_VALUES.items() if t in types), "x")
    return json.dumps(body).encode()


@pytest.mark.parametrize(("method", "path", "operation"), SECURED)
def test_secured_operations_without_valid_credentials_are_401(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    code = "not_authenticated" if for_users((method, path, operation)) else None

    def check(authorization: str | None) -> None:
        headers = {"Authorization": authorization} if authorization else {}
        response = send(method, concrete(path), plausible_body(operation), headers=headers)
        assert_problem(response, 401, code)
        assert response["WWW-Authenticate"] == "Bearer"

    each(FORGED_AUTHORIZATIONS, check)


@pytest.mark.parametrize(("method", "path", "operation"), FOR_OTHER_CREDENTIALS)
def test_a_personal_token_is_refused_where_other_credentials_are_needed(
    token: str, method: str, path: str, operation: dict[str, Any]
) -> None:
    response = send(method, concrete(path), plausible_body(operation), headers=auth(token))

    assert_problem(response, 401)


# --- bodies ------------------------------------------------------------------------------

MALFORMED_JSON = ['{"', "{'email': 1}", "[1, 2", "nul", '{"a": 1}}', "{}{}", "\x00"]
NOT_JSON = [
    ("text/plain", b'{"name": "x"}'),
    ("application/x-www-form-urlencoded", b"name=x&email=a%40b.c"),
    ("multipart/form-data; boundary=zz", b'--zz\r\nContent-Disposition: form-data; name="a"'),
    ("application/xml", b"<name>x</name>"),
]


@pytest.mark.parametrize(("method", "path", "operation"), WITH_BODY)
def test_malformed_json_is_400(
    token: str, method: str, path: str, operation: dict[str, Any]
) -> None:
    def check(body: str) -> None:
        response = send(method, concrete(path), body.encode(), headers=auth(token))
        assert_problem(response, 400, "malformed_json")

    each(MALFORMED_JSON, check)


@pytest.mark.parametrize(("method", "path", "operation"), WITH_BODY)
def test_invalid_utf8_is_400(token: str, method: str, path: str, operation: dict[str, Any]) -> None:
    response = send(method, concrete(path), b'{"name": "\xff\xfe"}', headers=auth(token))

    assert_problem(response, 400)


@pytest.mark.parametrize(("method", "path", "operation"), BODY_METHOD_OPERATIONS)
def test_a_body_that_is_not_json_is_415(
    token: str, method: str, path: str, operation: dict[str, Any]
) -> None:
    def check(case: tuple[str, bytes]) -> None:
        content_type, body = case
        response = send(
            method, concrete(path), body, content_type=content_type, headers=auth(token)
        )
        assert_problem(response, 415, "unsupported_media_type")

    each(NOT_JSON, check)


@pytest.mark.parametrize(("method", "path", "operation"), BODY_METHOD_OPERATIONS)
def test_a_huge_or_garbled_content_length_is_refused(
    token: str, method: str, path: str, operation: dict[str, Any]
) -> None:
    huge = send(
        method, concrete(path), b"{}", headers=auth(token), CONTENT_LENGTH=str(MAX_API_BODY + 1)
    )
    assert_problem(huge, 413, "payload_too_large")

    def check(length: str) -> None:
        response = send(method, concrete(path), b"{}", headers=auth(token), CONTENT_LENGTH=length)
        assert_never_5xx(response)
        assert response.status_code >= 400

    each(["abc", "-1", "1e9"], check)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def allowed_types(schema: dict[str, Any]) -> set[str] | None:
    """The JSON types a property schema accepts; None when it accepts anything."""
    schema = resolve(schema)
    if "type" in schema:
        types = set(schema["type"] if isinstance(schema["type"], list) else [schema["type"]])
        return types | {"integer"} if "number" in types else types
    options = schema.get("anyOf") or schema.get("oneOf")
    if not options:
        return None
    found: set[str] = set()
    for option in options:
        accepted = allowed_types(option)
        if accepted is None:
            return None
        found |= accepted
    return found


def wrong_typed_body(schema: dict[str, Any]) -> dict[str, Any]:
    """Every property that some JSON value does not fit, given such a value."""
    body = {}
    for name, prop in schema.get("properties", {}).items():
        types = allowed_types(prop)
        if types is None:
            continue
        for candidate in (12345, "not this", {"nested": [1]}, [1, "two"], True, None):
            if json_type(candidate) not in types:
                body[name] = candidate
                break
    return body


@pytest.mark.parametrize(("method", "path", "operation"), WITH_BODY)
def test_wrong_types_are_a_validation_error(
    token: str, method: str, path: str, operation: dict[str, Any]
) -> None:
    schema = body_schema(operation)
    assert schema is not None
    body = wrong_typed_body(schema)
    if not body:
        pytest.skip("every field of this body accepts any JSON value")

    response = send(method, concrete(path), json.dumps(body).encode(), headers=auth(token))

    problem = assert_problem(response, 400, "validation_error")
    assert {e["field"] for e in problem["errors"]} <= set(body) | {"body"}
    assert all(e["message"] for e in problem["errors"])


@pytest.mark.parametrize(("method", "path", "operation"), REQUIRED_FIELDS)
def test_missing_fields_and_wrong_shapes_are_a_validation_error(
    token: str, method: str, path: str, operation: dict[str, Any]
) -> None:
    def check(body: str) -> None:
        response = send(method, concrete(path), body.encode(), headers=auth(token))
        problem = assert_problem(response, 400, "validation_error")
        assert problem["errors"]

    each(["{}", "[]", '"text"', "42", "null", "true"], check)


@pytest.mark.parametrize(("method", "path", "operation"), REQUIRED_FIELDS)
def test_an_absent_body_is_a_400(
    token: str, method: str, path: str, operation: dict[str, Any]
) -> None:
    response = send(method, concrete(path), b"", headers=auth(token))

    assert_never_5xx(response)
    assert response.status_code == 400


# --- methods, query strings, paths -------------------------------------------------------

NON_NUMERIC_LIMITS = ["abc", "1.5", "", "1e3", "0x10", "\u0663"]
ODD_QUERIES = [
    "limit=-5",
    "limit=99999999999999999999999",
    "cursor=garbage",
    "cursor=%FF%FE",
    "cursor=W251bGwsIG51bGxd",
    "limit=2&limit=3",
    "since=yesterday&until=%00",
    "action=%00",
    "email=%25&target=nope",
]
ODD_PATH_VALUES = ["%00", "%FF", "..", "a" * 500, "%E2%80%AE", "%20", "%2F"]


@pytest.mark.parametrize(("path", "item"), PATHS)
def test_a_wrong_method_is_405_and_says_which_are_allowed(
    token: str, path: str, item: dict[str, Any]
) -> None:
    declared = {m.upper() for m in item}

    def check(method: str) -> None:
        response = send(method, concrete(path), b"{}", headers=auth(token))
        assert_problem(response, 405, "method_not_allowed")
        assert set(response["Allow"].replace(" ", "").split(",")) == declared

    each(sorted(set(METHODS) - declared), check)


@pytest.mark.parametrize(("method", "path", "operation"), LIMITED)
def test_a_non_numeric_limit_is_a_validation_error(
    token: str, method: str, path: str, operation: dict[str, Any]
) -> None:
    def check(limit: str) -> None:
        response = send(method, f"{concrete(path)}?limit={limit}", headers=auth(token))
        problem = assert_problem(response, 400)
        assert problem["code"] in {"validation_error", "invalid_limit"}

    each(NON_NUMERIC_LIMITS, check)


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS)
def test_odd_query_strings_never_break_an_operation(
    token: str, method: str, path: str, operation: dict[str, Any]
) -> None:
    def check(query: str) -> None:
        assert_never_5xx(send(method, f"{concrete(path)}?{query}", b"{}", headers=auth(token)))

    each(ODD_QUERIES, check)


@pytest.mark.parametrize(("method", "path", "operation"), WITH_PATH_PARAMETERS)
def test_odd_path_parameters_never_break_an_operation(
    token: str, method: str, path: str, operation: dict[str, Any]
) -> None:
    def check(value: str) -> None:
        filled = re.sub(r"\{[^}]+\}", value, path)
        assert_never_5xx(send(method, filled, b"{}", headers=auth(token)))

    each(ODD_PATH_VALUES, check)


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
def test_unknown_api_paths_are_404_problems(token: str, path: str) -> None:
    def check(method: str) -> None:
        assert_problem(send(method, path, b"{}", headers=auth(token)), 404, "not_found")

    each(METHODS, check)


def test_the_openapi_document_is_served() -> None:
    response = Client().get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert json.loads(response.content)["paths"].keys() == SCHEMA["paths"].keys()


# --- property tests ----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
credential_like = st.fixed_dictionaries(
    {},
    optional={
        "email": st.emails() | json_values,
        "password": st.text(max_size=40) | json_values,
        "name": st.text(max_size=80) | json_values,
    },
)
FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("path", ["/api/v1/auth/signup", "/api/v1/auth/tokens"])
@FUZZ
@given(body=st.binary(max_size=300))
def test_random_bytes_never_break_the_open_endpoints(db: None, path: str, body: bytes) -> None:
    assert_never_5xx(send("POST", path, body))


@pytest.mark.parametrize("path", ["/api/v1/auth/signup", "/api/v1/auth/tokens"])
@FUZZ
@given(body=credential_like | json_values)
def test_random_json_never_breaks_the_open_endpoints(db: None, path: str, body: Any) -> None:
    response = send("POST", path, json.dumps(body).encode())

    assert_never_5xx(response)
    if response.status_code < 400:
        assert response.status_code == 201
        assert response["Content-Type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS)
def test_a_query_of_too_many_fields_is_a_400_problem(
    token: str, method: str, path: str, operation: dict[str, Any]
) -> None:
    query = "&".join(["a=1"] * 1001)  # DATA_UPLOAD_MAX_NUMBER_FIELDS is 1000
    response = send(method, f"{concrete(path)}?{query}", b"{}", headers=auth(token))
    problem = assert_problem(response, 400)
    assert problem["detail"] == "The query string has more than 1000 fields."
