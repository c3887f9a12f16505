"""API fuzzing against the server's own OpenAPI document (schemathesis).

Every operation of /api/v1/openapi.json is called in-process, through the WSGI
application, on the test database, with requests generated from the document: as each
role of a prepared workspace (path parameters are the real ids of its workspace, bot,
key, collaborator, invitation, invoice and token), as an outsider, without valid
credentials, and the open and channel-facing endpoints on their own. Each answer must be
below 500 and conform to the document: a documented status, content type, headers and
body schema (the problem answers are documented by botyard.core.openapi). Requests
generated as invalid must be refused with a 4xx.

Random generation rarely hits boundaries, so each query parameter, body field and header
is also sent its edge values (the first and last dates, Infinity, NUL, lone surrogates,
integers past a PostgreSQL integer, cursors of the right shape around wrong values).

Every request runs in a savepoint that is rolled back, so each one meets the same world,
and the examples are derandomized, so that a failure reproduces.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from botyard.accounts.services import TOKEN_PREFIX
from botyard.bots.services import KEY_PREFIX
from botyard.workspaces.roles import Role
from botyard.wsgi import application
from tests.factories import PASSWORD
from tests.fuzz.world import FuzzWorld

pytestmark = pytest.mark.django_db

# Invalid data may also be refused as too large (413): ApiProblemMiddleware's body limit.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}}
)
SCHEMA = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application, config=CONFIG)
OPERATIONS: list[APIOperation] = [result.ok() for result in SCHEMA.get_all_operations()]
CHANNEL_PATH = "/api/v1/bots/{bot_id}/messages"
OPEN_PATHS = frozenset({"/api/v1/auth/signup", "/api/v1/auth/tokens"})


def secured(operation: APIOperation) -> bool:
    return bool(operation.definition.raw.get("security"))


OPEN = [op for op in OPERATIONS if not secured(op)]
CHANNEL = [op for op in OPERATIONS if op.path == CHANNEL_PATH]
USER = [op for op in OPERATIONS if secured(op) and op.path != CHANNEL_PATH]
SECURED = [op for op in OPERATIONS if secured(op)]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
BOTH = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# Deep on the owner (who may do everything, so most requests reach the services), lighter
# on each other role (which mostly decides between the answer and a 403).
OWNER_EXAMPLES = 25
ROLE_EXAMPLES = 6
OPEN_EXAMPLES = 25
UNAUTHENTICATED_EXAMPLES = 5
CURSOR_EXAMPLES = 10


def label(operation: APIOperation) -> str:
    return operation.label.replace("/api/v1", "")


def cases(
    operation: APIOperation,
    *,
    modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE,),
    path_parameters: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> st.SearchStrategy[Case]:
    """Requests to `operation`, with these path parameters and headers fixed."""
    return st.one_of(
        *(
            operation.as_strategy(mode, path_parameters=path_parameters, headers=headers)
            for mode in modes
        )
    )


def examples_for(operation: APIOperation, examples: int) -> int:
    """Fewer for an operation that takes no query and no body: with its path fixed, its
    requests hardly differ (and one of them renders a PDF)."""
    return examples if list(operation.query) or operation.body else min(examples, 3)


def fuzz(
    strategy: st.SearchStrategy[Case],
    *,
    examples: int,
    then: Callable[[Case, Response], None] | None = None,
) -> None:
    """`send` each case drawn from `strategy`."""

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )
    def run(case: Case) -> None:
        send(case, then=then)

    run()


def send(case: Case, *, then: Callable[[Case, Response], None] | None = None) -> None:
    """Call, validate with CHECKS (and `then`), and roll back what the request changed."""
    with transaction.atomic():
        response = case.call_and_validate(checks=CHECKS)
        if then is not None:
            then(case, response)
        transaction.set_rollback(True)


def real_ids(world: FuzzWorld, operation: APIOperation) -> dict[str, str]:
    names = {p.name for p in operation.path_parameters}
    return {name: value for name, value in world.path_parameters().items() if name in names}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


# --- the document itself ------------------------------------------------------------------


def test_only_signup_and_sign_in_are_open() -> None:
    assert {op.path for op in OPEN} == OPEN_PATHS
    assert len(CHANNEL) == 1


def test_every_operation_documents_its_problem_answers() -> None:
    for operation in OPERATIONS:
        responses = operation.definition.raw["responses"]
        assert "400" in responses, label(operation)
        if secured(operation):
            assert "401" in responses, label(operation)
        if operation.path_parameters:
            assert "404" in responses, label(operation)
        problem = responses["400"]["content"]["application/problem+json"]["schema"]
        assert problem == {"$ref": "#/components/schemas/Problem"}


# --- as each role of a workspace ----------------------------------------------------------


@pytest.mark.parametrize("operation", USER, ids=label)
def test_as_the_owner(worlds: dict[Role, FuzzWorld], operation: APIOperation) -> None:
    world = worlds[Role.OWNER]
    strategy = cases(
        operation,
        modes=BOTH,
        path_parameters=real_ids(world, operation),
        headers=bearer(world.caller.token),
    )
    fuzz(strategy, examples=examples_for(operation, OWNER_EXAMPLES))


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.OWNER], ids=str)
@pytest.mark.parametrize("operation", USER, ids=label)
def test_as_a_collaborator(
    worlds: dict[Role, FuzzWorld], operation: APIOperation, role: Role
) -> None:
    world = worlds[role]
    strategy = cases(
        operation, path_parameters=real_ids(world, operation), headers=bearer(world.caller.token)
    )
    fuzz(strategy, examples=examples_for(operation, ROLE_EXAMPLES))


@pytest.mark.parametrize("operation", USER, ids=label)
def test_as_an_outsider(worlds: dict[Role, FuzzWorld], operation: APIOperation) -> None:
    """Someone signed in, but no collaborator of the workspace: whatever a path names (the
    workspace and what is in it, or the owner's token) is not found for them, exactly as
    if it did not exist (or the request is malformed, a 400 that tells nothing)."""
    world = worlds[Role.OWNER]
    outsider = world.outsider

    def refused(case: Case, response: Response) -> None:
        if operation.path_parameters:
            assert response.status_code in {400, 404}, response.text

    strategy = cases(
        operation, path_parameters=real_ids(world, operation), headers=bearer(outsider.token)
    )
    fuzz(strategy, examples=examples_for(operation, ROLE_EXAMPLES), then=refused)


# --- boundary values random generation rarely hits ----------------------------------------

# Keyset cursors are opaque base64 of a JSON list of the last row's sort key, which random
# strings almost never are. Forged ones of that shape let the values reach the query: each
# edge value (Infinity is what json reads for 1e400 too) as a one- and a two-field key.
EDGE_VALUES: list[Any] = [
    math.inf, -math.inf, math.nan, 1e308, 2**63, 2**64, -1, 0, 1.5, True, None, "",
    "\x00", "2026-01-01T00:00:00", "2026-01-01T00:00:00+00:00", "9999-12-31T23:59:59Z",
    [], {}, [1], {"seq": 1},
]  # fmt: skip
# The first and last days and instants there are, and offsets that push them past.
EDGE_MOMENTS = [
    "0001-01-01", "9999-12-31", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z",
    "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", "2026-02-30", "2026-13-01",
    "2026-01-01T24:00:00Z", "-2026-01-01", "+12026-01-01", "",
]  # fmt: skip
EDGE_LIMITS = ["0", "-1", "1", "200", "201", "2147483648", "9223372036854775808", "1e3", ""]
EDGE_TEXT = ["", " ", "%", "_", "\\", "'", '"', "*", "a" * 5000, "🙂", "\u202e", "csv", "jsonl"]


def encoded(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


EDGE_CURSORS = [encoded([v]) for v in EDGE_VALUES] + [
    encoded(["2026-01-01T00:00:00+00:00", v]) for v in EDGE_VALUES
]
EDGES = {"cursor": EDGE_CURSORS, "since": EDGE_MOMENTS, "until": EDGE_MOMENTS,
         "limit": EDGE_LIMITS}  # fmt: skip
WITH_QUERY = [op for op in USER if list(op.query)]


@pytest.mark.parametrize("operation", WITH_QUERY, ids=label)
def test_edge_values_of_each_query_parameter(
    worlds: dict[Role, FuzzWorld], operation: APIOperation
) -> None:
    world = worlds[Role.OWNER]
    ids, headers = real_ids(world, operation), bearer(world.caller.token)
    for parameter in operation.query:
        for value in EDGES.get(parameter.name, EDGE_TEXT):
            query = {parameter.name: value}
            send(operation.Case(path_parameters=ids, headers=headers, query=query))


# Edge values in each field of a body that is valid otherwise, so that they get past the
# schema to the services and the database: lone surrogates and NUL (which PostgreSQL text
# cannot hold), noncharacters, bidi overrides, lengths around the columns', and integers
# around a PostgreSQL integer's range.
EDGE_STRINGS = [
    "\ud800", "\udfff\ud800", "\x00", "a\x00b", "\ufffe", "\u202eevil", " ", "",
    "a" * 65, "a" * 255, "a" * 300, "a" * 5000, "🙂" * 65, "\r\n", "=1+1",
]  # fmt: skip
EDGE_INTEGERS = [0, -1, 1, 2**31 - 1, 2**31, 2**63, 10**30, 1.5, True, "1", None]


def base_bodies(world: FuzzWorld) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Valid bodies for each operation that takes one (the import's nested document and
    the delete confirmation aside), by (method, path)."""
    w = "/api/v1/workspaces/{workspace_id}"
    bot = w + "/bots/{bot_id}"
    return {
        ("POST", "/api/v1/auth/signup"): [
            {"email": "x@example.com", "password": PASSWORD, "name": "X"}
        ],
        ("POST", "/api/v1/auth/tokens"): [
            {"email": world.caller.email, "password": PASSWORD, "name": "X"}
        ],
        ("POST", "/api/v1/workspaces"): [
            {"name": "X", "plan": "business", "payment_method": "pm_card_visa"}
        ],
        ("PATCH", w): [{"name": "X"}],
        ("POST", w + "/transfer"): [{"email": world.collaborator.email, "password": PASSWORD}],
        ("PATCH", w + "/collaborators/{user_id}"): [{"role": "manager"}],
        ("POST", w + "/invitations"): [{"email": "new@example.com", "role": "viewer"}],
        ("POST", "/api/v1/invitations/accept"): [{"token": "0" * 64}],
        ("POST", w + "/bots"): [{"name": "X", "description": "X"}],
        ("PATCH", bot): [{"name": "X", "description": "X"}],
        ("POST", bot + "/keys"): [{"name": "X"}],
        ("PUT", w + "/billing/plan"): [{"plan": "community"}],
        ("PUT", w + "/billing/payment-method"): [{"token": "pm_card_visa"}],
        ("PUT", w + "/billing/budget"): [{"amount": 20_000}],
        ("POST", CHANNEL_PATH): [
            {"user_id": "u", "text": "hours"},
            {"user_id": "u", "text": "hours", "conversation_id": world.conversation_id},
        ],
    }  # fmt: skip


WITH_BODY = [op for op in OPERATIONS if op.body]
NO_FLAT_BODY = {
    ("POST", "/api/v1/workspaces/{workspace_id}/bots/import"),
    ("DELETE", "/api/v1/workspaces/{workspace_id}"),
}


def test_every_body_has_a_base_body(worlds: dict[Role, FuzzWorld]) -> None:
    bases = base_bodies(worlds[Role.OWNER])
    assert {(op.method.upper(), op.path) for op in WITH_BODY} == bases.keys() | NO_FLAT_BODY


@pytest.mark.parametrize(
    "operation", [op for op in WITH_BODY if (op.method.upper(), op.path) not in NO_FLAT_BODY],
    ids=label,
)  # fmt: skip
def test_edge_values_in_each_body_field(
    worlds: dict[Role, FuzzWorld], operation: APIOperation
) -> None:
    world = worlds[Role.OWNER]
    secret = world.key_secret if operation.path == CHANNEL_PATH else world.caller.token
    headers = {**bearer(secret), "Content-Type": "application/json"}
    for base in base_bodies(world)[(operation.method.upper(), operation.path)]:
        send(
            operation.Case(
                path_parameters=real_ids(world, operation), headers=headers, body=base,
                media_type="application/json",
            ),
            then=accepted,
        )  # fmt: skip
        for name, valid in base.items():
            for edge in EDGE_STRINGS if isinstance(valid, str) else EDGE_INTEGERS:
                case = operation.Case(
                    path_parameters=real_ids(world, operation),
                    headers=headers,
                    body={**base, name: edge},
                    media_type="application/json",
                )
                send(case)


def accepted(case: Case, response: Response) -> None:
    """A base body is one the server takes (or refuses for the state, not the shape), so
    that the edge values next to it get as far."""
    assert response.status_code < 400 or response.status_code in {401, 403, 404, 409}, response.text


# Header values a client can send (no CR, LF or leading space; a NUL only through a lax
# proxy), in the headers an operation declares besides its credentials.
EDGE_HEADERS = ["", "a" * 255, "a" * 256, "a\x00b", "\x7f", "é" * 10, "=1+1"]
CREDENTIALS = frozenset({"Authorization", "Cookie"})


def declared_headers(operation: APIOperation) -> list[str]:
    return [p.name for p in operation.headers if p.name not in CREDENTIALS]


WITH_HEADERS = [op for op in OPERATIONS if declared_headers(op)]


def test_the_only_declared_header_is_the_idempotency_key() -> None:
    """So that a new header parameter gets its edge values (or this list its reason)."""
    assert {(label(op), name) for op in WITH_HEADERS for name in declared_headers(op)} == {
        ("POST /bots/{bot_id}/messages", "Idempotency-Key")
    }


@pytest.mark.parametrize("operation", WITH_HEADERS, ids=label)
def test_edge_values_of_each_header_parameter(
    worlds: dict[Role, FuzzWorld], operation: APIOperation
) -> None:
    world = worlds[Role.OWNER]
    secret = world.key_secret if operation.path == CHANNEL_PATH else world.caller.token
    body = base_bodies(world).get((operation.method.upper(), operation.path), [None])[0]
    for name in declared_headers(operation):
        for value in EDGE_HEADERS:
            headers = {**bearer(secret), "Content-Type": "application/json", name: value}
            case = operation.Case(
                path_parameters=real_ids(world, operation), headers=headers, body=body,
                media_type="application/json",
            )  # fmt: skip
            send(case)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
PAGED = [op for op in USER if any(p.name == "cursor" for p in op.query)]


def with_cursor(case: Case, cursor: str) -> Case:
    case.query = {**(case.query or {}), "cursor": cursor}
    return case


@pytest.mark.parametrize("operation", PAGED, ids=label)
def test_forged_cursors(worlds: dict[Role, FuzzWorld], operation: APIOperation) -> None:
    """Cursors of the right shape around any JSON at all."""
    world = worlds[Role.OWNER]
    strategy = cases(
        operation, path_parameters=real_ids(world, operation), headers=bearer(world.caller.token)
    )
    forged = st.lists(JSON_VALUES, min_size=1, max_size=3).map(encoded)
    fuzz(st.builds(with_cursor, strategy, forged), examples=CURSOR_EXAMPLES)


# --- the channel-facing and open endpoints ------------------------------------------------


@pytest.mark.parametrize("operation", CHANNEL, ids=label)
def test_the_channel_endpoint(worlds: dict[Role, FuzzWorld], operation: APIOperation) -> None:
    world = worlds[Role.OWNER]
    strategy = cases(
        operation,
        modes=BOTH,
        path_parameters=real_ids(world, operation),
        headers=bearer(world.key_secret),
    )
    fuzz(strategy, examples=OPEN_EXAMPLES)


@pytest.mark.parametrize("operation", OPEN, ids=label)
def test_the_open_endpoints(operation: APIOperation) -> None:
    fuzz(cases(operation, modes=BOTH), examples=OPEN_EXAMPLES)


# --- without valid credentials ------------------------------------------------------------


def credentials(world: FuzzWorld, operation: APIOperation) -> st.SearchStrategy[dict[str, str]]:
    """No credentials, garbage, a well-formed secret that was never issued, and a real
    secret of the wrong kind (a bot key for a user route, a personal token for the channel)."""
    wrong_kind = world.caller.token if operation.path == CHANNEL_PATH else world.key_secret
    return st.sampled_from(
        [
            {},
            {"Authorization": "Bearer"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
            bearer("not-a-token"),
            bearer(TOKEN_PREFIX + "A" * 43),
            bearer(KEY_PREFIX + "A" * 43),
            bearer(wrong_kind),
            {"Cookie": "sessionid=forged"},
        ]
    )


def with_credentials(case: Case, sent: dict[str, str]) -> Case:
    """The case with `sent` in place of whatever credentials were generated for it."""
    case.headers = {
        name: value
        for name, value in (case.headers or {}).items()
        if name.lower() not in {"authorization", "cookie"}
    } | sent
    case.cookies = {}
    return case


@pytest.mark.parametrize("operation", SECURED, ids=label)
def test_without_valid_credentials_every_secured_operation_is_401(
    worlds: dict[Role, FuzzWorld], operation: APIOperation
) -> None:
    world = worlds[Role.OWNER]
    expected = "invalid_bot_key" if operation.path == CHANNEL_PATH else "not_authenticated"

    def refused(case: Case, response: Response) -> None:
        sent = response.request
        if "%00" in str(sent.url):
            # A NUL in the path or query is refused as malformed before anything else.
            assert response.status_code == 400
            return
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == ["Bearer"]
        assert json.loads(response.content)["code"] == expected

    strategy = st.builds(
        with_credentials,
        cases(operation, path_parameters=real_ids(world, operation)),
        credentials(world, operation),
    )
    fuzz(strategy, examples=UNAUTHENTICATED_EXAMPLES, then=refused)
