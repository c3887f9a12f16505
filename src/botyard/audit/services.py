"""Writing audit events. Call `audit_record` inside the service's own transaction, so that
the change and its event are committed together or not at all."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

from django.db import transaction

from botyard.audit import chain
from botyard.audit.models import Action, AuditActor, AuditChainHead, AuditEvent, TargetType
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
    head, _ = AuditChainHead.objects.select_for_update(no_key=True).get_or_create(
        workspace=workspace
    )
    seq = head.seq + 1
    occurred_at = _stamp(head, seq)
    email = actor_email or (actor.email if actor else "system")
    values: dict[str, Any] = {
        "seq": seq,
        "occurred_at": occurred_at,
        "actor_email": email,
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
    head.seq, head.hash = seq, digest
    head.occurred_at = max(occurred_at, head.occurred_at) if head.occurred_at else occurred_at
    head.save(update_fields=["seq", "hash", "occurred_at", "ordered_after"])
    # The actor directory the email filter searches; one row per address.
    AuditActor.objects.bulk_create(
        [AuditActor(workspace=workspace, email=email)], ignore_conflicts=True
    )
    return record


# A clock set back by up to this much (an NTP correction) stamps the event with the newest
# time so far; set back further, the event keeps the clock's time and marks the chain as
# out of order up to it (AuditChainHead.ordered_after).
CLOCK_STEP_ABSORBED = dt.timedelta(minutes=5)


def _stamp(head: AuditChainHead, seq: int) -> dt.datetime:
    """The time of event `seq`: along a workspace's chain time never decreases after
    head.ordered_after, so that a date range is a range of seq there (selectors)."""
    now = clock.now()
    newest = head.occurred_at
    if newest is None or now >= newest:
        return now
    if newest - now <= CLOCK_STEP_ABSORBED:
        return newest
    head.ordered_after = seq
    return now


def audit_verify(*, workspace_id: str) -> chain.ChainReport:
    head = AuditChainHead.objects.filter(workspace_id=workspace_id).first()
    connection = transaction.get_connection()
    # A server-side cursor on PostgreSQL lives in a transaction. Not on SQLite: there a
    # transaction begins IMMEDIATE (settings) and would hold the write lock, and so every
    # writer, for the whole walk; one SELECT reads one snapshot anyway.
    reading = transaction.atomic() if connection.vendor == "postgresql" else nullcontext()
    with reading:
        return chain.verify_value_rows(
            _stored_chain(workspace_id),
            head_seq=head.seq if head else 0,
            head_hash=head.hash if head else chain.GENESIS,
            stored=True,
        )


VERIFY_BATCH = 20_000


def _stored_chain(workspace_id: str) -> Iterator[tuple[Any, ...]]:
    """The workspace's events in seq order as chain.ROW_FIELDS tuples, straight from a
    cursor: verification reads every event, and the ORM's per-row conversions would cost
    more than the hashing. The time comes as text (PostgreSQL formats it canonically;
    SQLite's stored text is read as it is) and details as JSON text; chain.
    content_of_fields(stored=True) reads both."""
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    fields = {field.name: field for field in AuditEvent._meta.concrete_fields}
    columns = [quote(fields[name].column) for name in chain.ROW_FIELDS]
    time_at = chain.ROW_FIELDS.index("occurred_at")
    if connection.vendor == "postgresql":
        columns[time_at] = (
            f"to_char({columns[time_at]} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        )
        details_at = chain.ROW_FIELDS.index("details")
        columns[details_at] = f"{columns[details_at]}::text"
    else:  # not the declared type, so that no converter parses it on the way
        columns[time_at] = f"CAST({columns[time_at]} AS TEXT)"
    sql = (  # identifiers from the model; the one value is a parameter
        f"SELECT {', '.join(columns)} FROM {quote(AuditEvent._meta.db_table)} "  # noqa: S608
        f"WHERE {quote(fields['workspace'].column)} = %s ORDER BY {quote(fields['seq'].column)}"
    )
    cursor = connection.chunked_cursor()
    try:
        cursor.execute(sql, [workspace_id])
        while batch := cursor.fetchmany(VERIFY_BATCH):
            yield from batch
    finally:
        cursor.close()
