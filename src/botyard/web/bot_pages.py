"""Dashboard pages for bots: the Bots tab, one bot's page, keys, export and import."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from botyard.bots import selectors, services
from botyard.bots.models import Bot
from botyard.core import clock
from botyard.core.errors import ApplicationError, ValidationFailed
from botyard.core.pagination import paginate
from botyard.web.forms import (
    BotCreateForm,
    BotEditForm,
    BotImportForm,
    KeyCreateForm,
    apply_error,
)
from botyard.web.workspace_views import act, actor_for, workspace_context, workspace_tab
from botyard.workspaces.access import Access
from botyard.workspaces.roles import Permission
from botyard.workspaces.selectors import bot_limit_of

MAX_IMPORT_BYTES = 1024 * 1024
CHART_DAYS = 30
NEW_KEY_COOKIE = "botyard_new_key"
CHART_WIDTH, CHART_HEIGHT = 600, 140


def _bots_context(request: HttpRequest, access: Access) -> dict[str, Any]:
    page = paginate(
        selectors.bot_list_for(access=access),
        order=("created_at", "id"),
        cursor=request.GET.get("cursor"),
        limit=50,
    )
    context = workspace_context(request, access, tab="bots")
    context.update(
        bots=page.items,
        next_cursor=page.next_cursor,
        bot_count=Bot.objects.filter(workspace=access.workspace).count(),
        bot_limit=bot_limit_of(access.workspace),
    )
    context.setdefault("create_form", BotCreateForm())
    context.setdefault("import_form", BotImportForm())
    return context


@workspace_tab("bots")
@require_http_methods(["GET", "HEAD", "POST"])
def bots(request: HttpRequest, access: Access) -> HttpResponse:
    if request.method != "POST":
        return render(request, "web/bots.html", _bots_context(request, access))
    form = BotCreateForm(request.POST)
    if form.is_valid():
        try:
            bot = services.bot_create(
                actor=actor_for(request),
                workspace_id=access.workspace.id,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
        except ApplicationError as error:
            apply_error(form, error)
        else:
            messages.success(request, f"Bot “{bot.name}” created. Write its definition below.")
            return redirect("web:bot", workspace_id=access.workspace.id, bot_id=bot.id)
    context = _bots_context(request, access)
    context["create_form"] = form
    return render(request, "web/bots.html", context, status=400)


@workspace_tab("bots")
@require_POST
def bot_import(request: HttpRequest, access: Access) -> HttpResponse:
    form = BotImportForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > MAX_IMPORT_BYTES:
                raise ValidationFailed.field("file", "The file is larger than 1 MiB.")
            try:
                document = json.loads(upload.read())
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise ValidationFailed.field("file", "This file is not JSON.") from None
            bot = services.bot_import(
                actor=actor_for(request), workspace_id=access.workspace.id, document=document
            )
        except ApplicationError as error:
            apply_error(form, error)
        else:
            messages.success(request, f"Bot “{bot.name}” imported.")
            return redirect("web:bot", workspace_id=access.workspace.id, bot_id=bot.id)
    context = _bots_context(request, access)
    context["import_form"] = form
    return render(request, "web/bots.html", context, status=400)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: dt.date
    messages: int
    conversations: int


def chart_bars(days: list[dict[str, Any]]) -> tuple[list[Bar], int]:
    peak = max((int(d["messages"]) for d in days), default=0)
    slot = CHART_WIDTH / max(1, len(days))
    bars = []
    for i, d in enumerate(days):
        height = (CHART_HEIGHT - 10) * int(d["messages"]) / peak if peak else 0
        bars.append(
            Bar(
                x=round(i * slot + slot * 0.15, 2),
                y=round(CHART_HEIGHT - height, 2),
                width=round(slot * 0.7, 2),
                height=round(height, 2),
                day=d["date"],
                messages=int(d["messages"]),
                conversations=int(d["conversations"]),
            )
        )
    return bars, peak


def _take_new_key(request: HttpRequest) -> dict[str, str] | None:
    raw = request.get_signed_cookie(NEW_KEY_COOKIE, default=None, salt=NEW_KEY_COOKIE, max_age=120)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _bot_context(request: HttpRequest, access: Access, bot: Bot, **extra: Any) -> dict[str, Any]:
    context = workspace_context(request, access, tab="bots")
    today = clock.now().date()
    days = selectors.bot_analytics(
        access=access,
        bot_id=bot.id,
        since=today - dt.timedelta(days=CHART_DAYS - 1),
        until=today,
    )
    bars, peak = chart_bars(days)
    context.update(
        bot=bot,
        versions=list(bot.versions.order_by("-number")[:10]),
        bars=bars,
        peak=peak,
        total_messages=sum(b.messages for b in bars),
        chart_width=CHART_WIDTH,
        chart_height=CHART_HEIGHT,
        may_delete=access.can(Permission.BOT_DELETE_ANY)
        or (access.can(Permission.BOT_DELETE_OWN) and bot.created_by_id == access.user.pk),
    )
    if access.can(Permission.BOT_UPDATE):
        context["keys"] = list(selectors.bot_key_list(access=access, bot_id=bot.id))
        context.setdefault("key_form", KeyCreateForm())
        context.setdefault(
            "edit_form",
            BotEditForm(
                initial={
                    "name": bot.name,
                    "description": bot.description,
                    "definition": bot.definition,
                }
            ),
        )
    context.update(extra)
    return context


@workspace_tab("bots")
@require_http_methods(["GET", "HEAD", "POST"])
def bot_page(request: HttpRequest, access: Access, bot_id: str) -> HttpResponse:
    bot = selectors.bot_get(access=access, bot_id=bot_id)
    if request.method != "POST":
        new_key = _take_new_key(request)
        context = _bot_context(request, access, bot, new_key=new_key)
        response = render(request, "web/bot.html", context)
        if new_key is not None:
            response["Cache-Control"] = "no-store"
            response.delete_cookie(NEW_KEY_COOKIE, path=request.path)
        return response
    form = BotEditForm(request.POST)
    if form.is_valid():
        try:
            services.bot_update(
                actor=actor_for(request),
                workspace_id=access.workspace.id,
                bot_id=bot.id,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                definition=form.cleaned_data["definition"],
            )
        except ApplicationError as error:
            apply_error(form, error)
        else:
            messages.success(request, "Draft saved. Publish it to make it answer messages.")
            return redirect("web:bot", workspace_id=access.workspace.id, bot_id=bot.id)
    context = _bot_context(request, access, bot, edit_form=form)
    return render(request, "web/bot.html", context, status=400)


@workspace_tab("bots")
@require_POST
def bot_publish(request: HttpRequest, access: Access, bot_id: str) -> HttpResponse:
    return act(
        request,
        lambda: services.bot_publish(
            actor=actor_for(request), workspace_id=access.workspace.id, bot_id=bot_id
        ),
        lambda version: f"Published version {version.number}.",
        then=redirect("web:bot", workspace_id=access.workspace.id, bot_id=bot_id),
    )


@workspace_tab("bots")
def bot_export(request: HttpRequest, access: Access, bot_id: str) -> HttpResponse:
    document = services.bot_export(
        actor=actor_for(request), workspace_id=access.workspace.id, bot_id=bot_id
    )
    response = HttpResponse(
        json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{bot_id}.json"'
    return response


@workspace_tab("bots")
@require_POST
def bot_delete(request: HttpRequest, access: Access, bot_id: str) -> HttpResponse:
    return act(
        request,
        lambda: services.bot_delete(
            actor=actor_for(request), workspace_id=access.workspace.id, bot_id=bot_id
        ),
        "Bot deleted.",
        then=redirect("web:bots", workspace_id=access.workspace.id),
        refused=redirect("web:bot", workspace_id=access.workspace.id, bot_id=bot_id),
    )


@workspace_tab("bots")
@require_POST
def bot_key_create(request: HttpRequest, access: Access, bot_id: str) -> HttpResponse:
    bot = selectors.bot_get(access=access, bot_id=bot_id)
    form = KeyCreateForm(request.POST)
    if form.is_valid():
        try:
            key, secret = services.bot_key_create(
                actor=actor_for(request),
                workspace_id=access.workspace.id,
                bot_id=bot.id,
                name=form.cleaned_data["name"],
            )
        except ApplicationError as error:
            apply_error(form, error)
        else:
            # Post/redirect/get, so a reload cannot mint a second key. The secret rides to
            # the next page view in a signed, short-lived cookie: it is never stored here.
            response = redirect("web:bot", workspace_id=access.workspace.id, bot_id=bot.id)
            response.set_signed_cookie(
                NEW_KEY_COOKIE,
                json.dumps({"id": key.id, "name": key.name, "secret": secret}),
                salt=NEW_KEY_COOKIE,
                max_age=120,
                path=request.path.rsplit("/keys", 1)[0],
                secure=request.is_secure(),
                httponly=True,
                samesite="Strict",
            )
            return response
    context = _bot_context(request, access, bot, key_form=form)
    return render(request, "web/bot.html", context, status=400)


@workspace_tab("bots")
@require_POST
def bot_key_revoke(request: HttpRequest, access: Access, bot_id: str, key_id: str) -> HttpResponse:
    return act(
        request,
        lambda: services.bot_key_revoke(
            actor=actor_for(request), workspace_id=access.workspace.id, bot_id=bot_id, key_id=key_id
        ),
        "Key revoked; channels using it can no longer send messages.",
        then=redirect("web:bot", workspace_id=access.workspace.id, bot_id=bot_id),
    )
