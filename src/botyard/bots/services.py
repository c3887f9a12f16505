"""Bot writes (product.md §4): create, update, publish, delete, export/import, keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from django.db import transaction

from botyard.audit.models import Action, TargetType
from botyard.audit.services import audit_record
from botyard.bots.definition import (
    UNSTORABLE_MESSAGE,
    empty_definition,
    is_storable_text,
    validate_definition,
)
from botyard.bots.models import Bot, BotKey, BotVersion
from botyard.core import clock
from botyard.core.actor import Actor
from botyard.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from botyard.core.names import clean_name
from botyard.workspaces.access import Access, access_workspace, require
from botyard.workspaces.roles import Permission
from botyard.workspaces.selectors import bot_limit_of

KEY_PREFIX = "byk_"
EXPORT_KIND = "botyard.bot"
MAX_DESCRIPTION = 1_000


def _clean_description(value: Any, *, field: str = "description") -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed.field(field, "Must be text.")
    if len(value) > MAX_DESCRIPTION:
        raise ValidationFailed.field(field, f"Use at most {MAX_DESCRIPTION} characters.")
    if not is_storable_text(value):
        raise ValidationFailed.field(field, UNSTORABLE_MESSAGE)
    return value.strip()


def _rfc3339(value: dt.datetime) -> str:
    """As the API writes times everywhere else: UTC with a "Z"."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _bot_of(access: Access, bot_id: str, *, for_update: bool = False) -> Bot:
    bots = Bot.objects.filter(workspace=access.workspace, id=bot_id)
    if for_update:
        bots = bots.select_for_update(no_key=True)
    bot = bots.first()
    if bot is None:
        raise NotFound("No such bot.", code="bot_not_found")
    return bot


def _check_room(access: Access, *, adding: int = 1) -> None:
    """Called with the workspace row locked, so concurrent creates are counted one by one."""
    limit = bot_limit_of(access.workspace)
    count = Bot.objects.filter(workspace=access.workspace).count()
    if count + adding > limit:
        raise Conflict(
            f"This workspace has {count} of {limit} bots, the most its plan allows. Delete a "
            "bot or upgrade the plan to add more.",
            code="bot_limit_reached",
        )


def _audit_bot(actor: Actor, access: Access, bot: Bot, action: Action, event: str,
               details: dict[str, Any] | None = None) -> None:  # fmt: skip
    audit_record(
        workspace=access.workspace, actor=actor, action=action, target_type=TargetType.BOT,
        target_id=bot.id, target_label=bot.name, event=event, details=details or {},
    )  # fmt: skip


def bot_create(
    *,
    actor: Actor,
    workspace_id: str,
    name: str,
    description: str | None = None,
    definition: dict[str, Any] | None = None,
) -> Bot:
    bot_name = clean_name(name)
    bot_description = _clean_description(description)
    draft = validate_definition(definition) if definition is not None else empty_definition()
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id, for_update=True)
        require(access, Permission.BOT_CREATE)
        _check_room(access)
        now = clock.now()
        bot = Bot.objects.create(
            workspace=access.workspace, name=bot_name, description=bot_description,
            created_by=actor.user, created_by_email=actor.email, created_at=now,
            updated_at=now, definition=draft,
        )  # fmt: skip
        _audit_bot(actor, access, bot, Action.ADDED, "bot.created", {"name": bot.name})
    return bot


def bot_update(
    *,
    actor: Actor,
    workspace_id: str,
    bot_id: str,
    name: str | None = None,
    description: str | None = None,
    definition: dict[str, Any] | None = None,
) -> Bot:
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = clean_name(name)
    if description is not None:
        changes["description"] = _clean_description(description)
    if definition is not None:
        changes["definition"] = validate_definition(definition)
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id)
        require(access, Permission.BOT_UPDATE)
        bot = _bot_of(access, bot_id, for_update=True)
        changed = {k: v for k, v in changes.items() if getattr(bot, k) != v}
        if not changed:
            return bot
        details: dict[str, Any] = {"changed": sorted(changed)}
        if "name" in changed:
            details["name"] = {"before": bot.name, "after": changed["name"]}
        for key, value in changed.items():
            setattr(bot, key, value)
        bot.updated_at = clock.now()
        bot.save(update_fields=[*changed, "updated_at"])
        _audit_bot(actor, access, bot, Action.UPDATED, "bot.updated", details)
    return bot


def bot_publish(*, actor: Actor, workspace_id: str, bot_id: str) -> BotVersion:
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id)
        require(access, Permission.BOT_UPDATE)
        bot = _bot_of(access, bot_id, for_update=True)
        validate_definition(bot.definition)
        number = (bot.published_version or 0) + 1
        version = BotVersion.objects.create(
            bot=bot, number=number, definition=bot.definition, published_at=clock.now(),
            published_by_email=actor.email,
        )  # fmt: skip
        bot.published_version = number
        bot.save(update_fields=["published_version"])
        _audit_bot(actor, access, bot, Action.PUBLISHED, "bot.published", {"version": number})
    return version


def bot_delete(*, actor: Actor, workspace_id: str, bot_id: str) -> None:
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id)
        # Every role that may delete any bot may delete its own: a role with neither is
        # refused before the bot is looked up, as every other bot route refuses it.
        require(access, Permission.BOT_DELETE_OWN)
        bot = _bot_of(access, bot_id, for_update=True)
        if not access.can(Permission.BOT_DELETE_ANY) and bot.created_by_id != actor.user.pk:
            raise PermissionDenied(
                "Your role can delete only the bots you created.", code="forbidden"
            )
        _audit_bot(actor, access, bot, Action.DELETED, "bot.deleted", {"name": bot.name})
        bot.delete()


def bot_export(*, actor: Actor, workspace_id: str, bot_id: str) -> dict[str, Any]:
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id)
        require(access, Permission.BOT_EXPORT)
        bot = _bot_of(access, bot_id)
        versions = list(bot.versions.order_by("number"))
        document = {
            "kind": EXPORT_KIND,
            "format": 1,
            "exported_at": _rfc3339(clock.now()),
            "bot": {
                "id": bot.id,
                "name": bot.name,
                "description": bot.description,
                "created_at": _rfc3339(bot.created_at),
                "draft": bot.definition,
                "versions": [
                    {
                        "number": v.number,
                        "published_at": _rfc3339(v.published_at),
                        "definition": v.definition,
                    }
                    for v in versions
                ],
            },
        }
        _audit_bot(
            actor, access, bot, Action.DOWNLOADED, "bot.exported", {"versions": len(versions)}
        )
    return document


def _import_field(document: dict[str, Any], key: str, kind: type) -> Any:
    value = document.get(key)
    if not isinstance(value, kind):
        raise ValidationFailed.field(f"bot.{key}", "Missing or of the wrong type.",
                                     code="invalid_export")  # fmt: skip
    return value


def bot_import(*, actor: Actor, workspace_id: str, document: Any) -> Bot:
    if not isinstance(document, dict) or document.get("kind") != EXPORT_KIND:
        raise ValidationFailed.field(
            "kind", f"This is not a botyard bot export (kind must be {EXPORT_KIND!r}).",
            code="invalid_export",
        )  # fmt: skip
    if document.get("format") != 1:
        raise ValidationFailed.field("format", "Unknown export format.", code="invalid_export")
    body = document.get("bot")
    if not isinstance(body, dict):
        raise ValidationFailed.field("bot", "Missing the bot.", code="invalid_export")
    name = clean_name(_import_field(body, "name", str), field="bot.name")
    description = _clean_description(body.get("description", ""), field="bot.description")
    draft = validate_definition(_import_field(body, "draft", dict), field="bot.draft")
    versions = _import_field(body, "versions", list)
    definitions = []
    for i, version in enumerate(versions):
        if not isinstance(version, dict):
            raise ValidationFailed.field(f"bot.versions[{i}]", "Must be an object.",
                                         code="invalid_export")  # fmt: skip
        definitions.append(
            validate_definition(version.get("definition"), field=f"bot.versions[{i}].definition")
        )
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id, for_update=True)
        require(access, Permission.BOT_CREATE)
        _check_room(access)
        now = clock.now()
        bot = Bot.objects.create(
            workspace=access.workspace, name=name, description=description,
            created_by=actor.user, created_by_email=actor.email, created_at=now,
            updated_at=now, definition=draft,
            published_version=len(definitions) or None,
        )  # fmt: skip
        BotVersion.objects.bulk_create(
            BotVersion(bot=bot, number=n, definition=d, published_at=now,
                       published_by_email=actor.email)
            for n, d in enumerate(definitions, start=1)
        )  # fmt: skip
        _audit_bot(
            actor, access, bot, Action.ADDED, "bot.imported",
            {"name": bot.name, "versions": len(definitions)},
        )  # fmt: skip
    return bot


def key_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def bot_key_create(
    *, actor: Actor, workspace_id: str, bot_id: str, name: str
) -> tuple[BotKey, str]:
    key_name = clean_name(name)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id)
        require(access, Permission.BOT_UPDATE)
        bot = _bot_of(access, bot_id)
        key = BotKey.objects.create(
            bot=bot, name=key_name, prefix=secret[: len(KEY_PREFIX) + 6], digest=key_digest(secret)
        )
        _audit_bot(actor, access, bot, Action.UPDATED, "bot.key_created",
                   {"key_id": key.id, "key_name": key.name})  # fmt: skip
    return key, secret


def bot_key_revoke(*, actor: Actor, workspace_id: str, bot_id: str, key_id: str) -> None:
    with transaction.atomic():
        access = access_workspace(actor.user, workspace_id)
        require(access, Permission.BOT_UPDATE)
        bot = _bot_of(access, bot_id)
        key = BotKey.objects.filter(bot=bot, id=key_id).first()
        if key is None:
            raise NotFound("No such key.", code="key_not_found")
        key.delete()
        _audit_bot(actor, access, bot, Action.UPDATED, "bot.key_revoked",
                   {"key_id": key_id, "key_name": key.name})  # fmt: skip
