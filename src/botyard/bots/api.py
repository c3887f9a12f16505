from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Body, Router, Status

from botyard.accounts.api import actor_of, current_user
from botyard.accounts.auth import user_auth
from botyard.bots import selectors, services
from botyard.bots.models import Bot, BotKey
from botyard.bots.schemas import (
    AnalyticsOut,
    BotCreateIn,
    BotDetailOut,
    BotListOut,
    BotUpdateIn,
    KeyCreatedOut,
    KeyCreateIn,
    KeyListOut,
    PublishedOut,
)
from botyard.core.pagination import paginate
from botyard.workspaces.access import access_workspace

router = Router(tags=["bots"], auth=user_auth)
BOTS = "/workspaces/{workspace_id}/bots"


def bot_out(bot: Bot, *, with_definition: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": bot.id,
        "name": bot.name,
        "description": bot.description,
        "created_by": {"id": bot.created_by_id, "email": bot.created_by_email},
        "created_at": bot.created_at,
        "updated_at": bot.updated_at,
        "published_version": bot.published_version,
    }
    if with_definition:
        out["definition"] = bot.definition
    return out


@router.get(BOTS, response=BotListOut)
def bot_list(
    request: HttpRequest, workspace_id: str, cursor: str | None = None, limit: int | None = None
) -> dict[str, Any]:
    access = access_workspace(current_user(request), workspace_id)
    page = paginate(
        selectors.bot_list_for(access=access),
        order=("created_at", "id"),
        cursor=cursor,
        limit=limit,
    )
    return {"items": [bot_out(b) for b in page.items], "next_cursor": page.next_cursor}


@router.post(BOTS, response={201: BotDetailOut})
def bot_create(
    request: HttpRequest, workspace_id: str, payload: BotCreateIn
) -> Status[dict[str, Any]]:
    bot = services.bot_create(
        actor=actor_of(request),
        workspace_id=workspace_id,
        name=payload.name,
        description=payload.description,
        definition=payload.definition,
    )
    return Status(201, bot_out(bot, with_definition=True))


@router.post(BOTS + "/import", response={201: BotDetailOut})
def bot_import(
    request: HttpRequest,
    workspace_id: str,
    document: dict[str, Any] = Body(...),  # noqa: B008
) -> Status[dict[str, Any]]:
    bot = services.bot_import(actor=actor_of(request), workspace_id=workspace_id, document=document)
    return Status(201, bot_out(bot, with_definition=True))


@router.get(BOTS + "/{bot_id}", response=BotDetailOut)
def bot_get(request: HttpRequest, workspace_id: str, bot_id: str) -> dict[str, Any]:
    access = access_workspace(current_user(request), workspace_id)
    return bot_out(selectors.bot_get(access=access, bot_id=bot_id), with_definition=True)


@router.patch(BOTS + "/{bot_id}", response=BotDetailOut)
def bot_update(
    request: HttpRequest, workspace_id: str, bot_id: str, payload: BotUpdateIn
) -> dict[str, Any]:
    bot = services.bot_update(
        actor=actor_of(request),
        workspace_id=workspace_id,
        bot_id=bot_id,
        name=payload.name,
        description=payload.description,
        definition=payload.definition,
    )
    return bot_out(bot, with_definition=True)


@router.delete(BOTS + "/{bot_id}", response={204: None})
def bot_delete(request: HttpRequest, workspace_id: str, bot_id: str) -> HttpResponse:
    services.bot_delete(actor=actor_of(request), workspace_id=workspace_id, bot_id=bot_id)
    return HttpResponse(status=204)


@router.post(BOTS + "/{bot_id}/publish", response=PublishedOut)
def bot_publish(request: HttpRequest, workspace_id: str, bot_id: str) -> dict[str, Any]:
    version = services.bot_publish(
        actor=actor_of(request), workspace_id=workspace_id, bot_id=bot_id
    )
    return {"version": version.number, "published_at": version.published_at}


@router.get(BOTS + "/{bot_id}/export", response={200: dict[str, Any]})
def bot_export(request: HttpRequest, workspace_id: str, bot_id: str) -> HttpResponse:
    document = services.bot_export(
        actor=actor_of(request), workspace_id=workspace_id, bot_id=bot_id
    )
    response = HttpResponse(
        json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{bot_id}.json"'
    return response


def key_out(key: BotKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
    }


@router.get(BOTS + "/{bot_id}/keys", response=KeyListOut)
def bot_key_list(
    request: HttpRequest,
    workspace_id: str,
    bot_id: str,
    cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    access = access_workspace(current_user(request), workspace_id)
    page = paginate(
        selectors.bot_key_list(access=access, bot_id=bot_id),
        order=("created_at", "id"),
        cursor=cursor,
        limit=limit,
    )
    return {"items": [key_out(k) for k in page.items], "next_cursor": page.next_cursor}


@router.post(BOTS + "/{bot_id}/keys", response={201: KeyCreatedOut})
def bot_key_create(
    request: HttpRequest, workspace_id: str, bot_id: str, payload: KeyCreateIn
) -> Status[dict[str, Any]]:
    key, secret = services.bot_key_create(
        actor=actor_of(request), workspace_id=workspace_id, bot_id=bot_id, name=payload.name
    )
    return Status(201, {**key_out(key), "key": secret})


@router.delete(BOTS + "/{bot_id}/keys/{key_id}", response={204: None})
def bot_key_revoke(
    request: HttpRequest, workspace_id: str, bot_id: str, key_id: str
) -> HttpResponse:
    services.bot_key_revoke(
        actor=actor_of(request), workspace_id=workspace_id, bot_id=bot_id, key_id=key_id
    )
    return HttpResponse(status=204)


@router.get(BOTS + "/{bot_id}/analytics", response=AnalyticsOut)
def bot_analytics(
    request: HttpRequest,
    workspace_id: str,
    bot_id: str,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> dict[str, Any]:
    access = access_workspace(current_user(request), workspace_id)
    days = selectors.bot_analytics(access=access, bot_id=bot_id, since=since, until=until)
    return {"days": days}
