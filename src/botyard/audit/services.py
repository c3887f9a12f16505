"""Writing audit events. Call `audit_record` inside the service's own transaction, so that
the change and its event are committed together or not at all."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from botyard.audit import chain
from botyard.audit.models import Action, AuditChainHead, AuditEvent, TargetType
from botyard.core import clock
from botyard.core.actor import Actor
from botyard.workspaces.models import Workspace

SECRET_KEYS = frozenset({"password", "token", "key", "secret", "card_number"})


def _scrub(value: Any) -> Any:
    # Nested values too: a secret under {"card": {"token": ...}} is as secret as at the top.
    if isinstance(value, dict):
        return {
            k: "[redacted]" if str(k).lower() in SECRET_KEYS else _scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def audit_record(
    *,
    workspace: Workspace,
    actor: Actor | None,
    action: Action,
    target_type: TargetType,
    target_id: str,
    target_label: str,
    event: str,
    details: dict[str, Any] | None = None,
    actor_email: str | None = None,
) -> AuditEvent:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the change's transaction")
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(workspace=workspace)
    values: dict[str, Any] = {
        "seq": head.seq + 1,
        "occurred_at": clock.now(),
        "actor_email": actor_email or (actor.email if actor else "system"),
        "action": Action(action).value,
        "target_type": TargetType(target_type).value,
        "target_id": target_id,
        "target_label": target_label[:256],
        "event": event,
        "details": _scrub(details or {}),
        "ip": (actor.address if actor else "")[:64],
    }
    # Round-trip the details through JSON now, so the hash covers exactly what is stored.
    values["details"] = chain.json.loads(chain.json.dumps(values["details"], default=str))
    digest = chain.link_hash(head.hash, values)
    record = AuditEvent.objects.create(
        workspace=workspace, prev_hash=head.hash, hash=digest, **values
    )
    head.seq, head.hash = values["seq"], digest
    head.save(update_fields=["seq", "hash"])
    return record


def audit_verify(*, workspace_id: str) -> chain.ChainReport:
    head = AuditChainHead.objects.filter(workspace_id=workspace_id).first()
    # Tuples rather than dicts or models, in large chunks (a server-side cursor on
    # PostgreSQL): verification reads every event of the workspace.
    rows = (
        AuditEvent.objects.filter(workspace_id=workspace_id)
        .order_by("seq")
        .values_list(*chain.ROW_FIELDS)
        .iterator(chunk_size=20_000)
    )
    return chain.verify_value_rows(
        rows,
        head_seq=head.seq if head else 0,
        head_hash=head.hash if head else chain.GENESIS,
    )
