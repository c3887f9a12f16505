"""Who may do what, generated from the one table (botyard.workspaces.roles.ROLE_PERMISSIONS)
crossed with every workspace-scoped route (tests/workspaces/operations.py), through the HTTP
API with a bearer token.

- a role with the permission gets the route's success status (and its effect happens);
- a role without it gets 403 `forbidden` (or the route's own refusal) and nothing changes;
- a signed-in non-collaborator gets 404 `workspace_not_found`, the answer a workspace that
  does not exist gets, and nothing changes;
- an anonymous caller gets 401, and nothing changes.
"""

from __future__ import annotations

import json

import pytest

from botyard.api import api
from botyard.workspaces.roles import ASSIGNABLE_ROLES, ROLE_PERMISSIONS, Permission, Role
from tests.helpers import ApiClient, assert_problem
from tests.workspaces.operations import OPERATIONS, WS, Operation
from tests.workspaces.world import World, assert_unchanged, db_snapshot

pytestmark = pytest.mark.django_db

P = Permission

# product.md §3, row by row, as written there. ROLE_PERMISSIONS must say the same.
SPEC_TABLE = """
permission                                 | viewer | billing | developer | manager | admin | owner
workspace_view                             |   x    |    x    |     x     |    x    |   x   |   x
bot_view                                   |   x    |         |     x     |    x    |   x   |   x
bot_create                                 |        |         |     x     |    x    |   x   |   x
bot_update                                 |        |         |     x     |    x    |   x   |   x
bot_export                                 |        |         |     x     |    x    |   x   |   x
bot_delete_own                             |        |         |     x     |    x    |   x   |   x
bot_delete_any                             |        |         |           |    x    |   x   |   x
audit_view                                 |        |         |           |    x    |   x   |   x
billing_view                               |        |    x    |           |    x    |   x   |   x
billing_change                             |        |    x    |           |    x    |   x   |   x
collaborator_manage                        |        |         |           |         |   x   |   x
workspace_rename                           |        |         |           |         |   x   |   x
workspace_delete                           |        |         |           |         |       |   x
workspace_transfer                         |        |         |           |         |       |   x
workspace_leave                            |   x    |    x    |     x     |    x    |   x   |
"""
SPEC_COLUMNS = [Role.VIEWER, Role.BILLING_MANAGER, Role.DEVELOPER, Role.MANAGER,
                Role.ADMINISTRATOR, Role.OWNER]  # fmt: skip


def _spec_permissions() -> dict[Role, set[Permission]]:
    granted: dict[Role, set[Permission]] = {role: set() for role in Role}
    rows = [line for line in SPEC_TABLE.strip().splitlines()[1:]]
    for row in rows:
        name, *cells = (cell.strip() for cell in row.split("|"))
        for role, cell in zip(SPEC_COLUMNS, cells, strict=True):
            if cell == "x":
                granted[role].add(Permission(name))
    return granted


def test_the_table_is_the_one_of_the_product_spec() -> None:
    assert {role: set(perms) for role, perms in ROLE_PERMISSIONS.items()} == _spec_permissions()
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert set(ASSIGNABLE_ROLES) == set(Role) - {Role.OWNER}


def _workspace_routes() -> set[tuple[str, str]]:
    paths = api.get_openapi_schema()["paths"]
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        if path == WS or path.startswith(WS + "/")
        for method in operations
    }


def test_every_workspace_route_is_in_the_matrix() -> None:
    matrix = [op.key for op in OPERATIONS]
    assert len(matrix) == len(set(matrix)), "an operation is listed twice"
    missing = _workspace_routes() - set(matrix)
    assert not missing, f"add these routes to tests/workspaces/operations.py: {sorted(missing)}"
    stale = set(matrix) - _workspace_routes()
    assert not stale, f"these matrix entries match no route: {sorted(stale)}"


def test_every_permission_is_exercised_or_belongs_to_a_later_feature() -> None:
    # Bot, billing and audit permissions arrive with their routes; the ones of this
    # feature must each have a route in the matrix.
    ours = {P.WORKSPACE_VIEW, P.WORKSPACE_RENAME, P.WORKSPACE_DELETE, P.WORKSPACE_TRANSFER,
            P.WORKSPACE_LEAVE, P.COLLABORATOR_MANAGE}  # fmt: skip
    assert ours <= {op.permission for op in OPERATIONS}


CASES = [pytest.param(op, role, id=f"{op.id}-{role.value}") for op in OPERATIONS for role in Role]


@pytest.mark.parametrize(("op", "role"), CASES)
def test_role_matrix(op: Operation, role: Role, api_client: ApiClient) -> None:
    world = World(role)
    request = op.request(world)
    before = db_snapshot()

    response = request.send(api_client, token=world.caller.token)

    if op.permission in ROLE_PERMISSIONS[role]:
        assert response.status_code == op.success, response.content
        if op.success == 204:
            assert response.content == b""
        else:
            assert response["Content-Type"].startswith(op.content_type)
        if op.effect is not None:
            op.effect(world)
        if op.method == "GET":
            assert_unchanged(before, besides=op.get_writes)
    else:
        status, code = op.refusal_for(role)
        assert_problem(response, status, code)
        assert_unchanged(before)


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.id)
def test_non_collaborators_learn_nothing(op: Operation, api_client: ApiClient) -> None:
    world = World(None)
    request = op.request(world)
    before = db_snapshot()

    response = request.send(api_client, token=world.caller.token)

    body = assert_problem(response, 404, "workspace_not_found")
    assert_unchanged(before)
    # Exactly the answer for a workspace that does not exist.
    missing = op.request(world).url.replace(world.id, "ws_0000000000doesnotexist00")
    absent = type(request)(request.method, missing, request.body).send(
        api_client, token=world.caller.token
    )
    assert json.loads(absent.content) == body
    assert world.workspace.name not in response.content.decode()


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.id)
def test_anonymous_callers_are_not_authenticated(op: Operation, api_client: ApiClient) -> None:
    world = World(Role.VIEWER)
    request = op.request(world)
    before = db_snapshot()

    response = request.send(api_client, token=None)

    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"
    assert_unchanged(before)


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.id)
def test_an_invalid_token_is_not_authenticated(op: Operation, api_client: ApiClient) -> None:
    world = World(Role.OWNER)
    request = op.request(world)
    before = db_snapshot()

    response = request.send(api_client, token="byt_" + "x" * 43)

    assert_problem(response, 401, "not_authenticated")
    assert_unchanged(before)
