from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from botyard.accounts import selectors, services
from botyard.accounts.auth import user_auth
from botyard.accounts.models import User
from botyard.accounts.schemas import (
    SignupIn,
    TokenCreatedOut,
    TokenCreateIn,
    TokenListOut,
    UserOut,
)
from botyard.core.actor import Actor
from botyard.core.pagination import paginate
from botyard.core.request import client_address

router = Router(tags=["accounts"])


def current_user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


def actor_of(request: HttpRequest) -> Actor:
    return Actor(user=current_user(request), address=client_address(request))


@router.post("/auth/signup", response={201: UserOut}, auth=None)
def signup(request: HttpRequest, payload: SignupIn) -> Status[User]:
    user = services.user_create(
        email=payload.email, password=payload.password, name=payload.name, via_signup=True
    )
    return Status(201, user)


@router.post("/auth/tokens", response={201: TokenCreatedOut}, auth=None)
def token_create(request: HttpRequest, payload: TokenCreateIn) -> Status[dict[str, object]]:
    user = services.user_sign_in(
        email=payload.email, password=payload.password, address=client_address(request)
    )
    token, secret = services.token_create(user=user, name=payload.name)
    return Status(
        201,
        {"id": token.id, "name": token.name, "token": secret, "created_at": token.created_at},
    )


@router.get("/auth/tokens", response=TokenListOut, auth=user_auth)
def token_list(
    request: HttpRequest, cursor: str | None = None, limit: int | None = None
) -> dict[str, object]:
    page = paginate(
        selectors.token_list_for(user=current_user(request)),
        order=("-created_at", "-id"),
        cursor=cursor,
        limit=limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.delete("/auth/tokens/{token_id}", response={204: None}, auth=user_auth)
def token_revoke(request: HttpRequest, token_id: str) -> HttpResponse:
    services.token_revoke(user=current_user(request), token_id=token_id)
    return HttpResponse(status=204)


@router.get("/me", response=UserOut, auth=user_auth)
def me(request: HttpRequest) -> User:
    return current_user(request)
