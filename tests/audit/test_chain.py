"""Audit events (product.md §7): each workspace/collaborator service writes its event in the
same transaction as its change, with the action, target type and event name of the §7
mapping; a refused change writes none; the hash chain shows an edited, removed, reordered
or truncated event, and `botyard audit verify` names the first bad one.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest
from django.db import connection, transaction

from botyard import cli
from botyard.audit import chain
from botyard.audit.models import Action, AuditChainHead, AuditEvent, TargetType
from botyard.audit.services import audit_record, audit_verify
from botyard.billing.models import PaymentMethod
from botyard.core import clock
from botyard.core.errors import ApplicationError
from botyard.workspaces import services
from botyard.workspaces.models import Workspace
from botyard.workspaces.roles import Role
from tests.workspaces.world import (
    PASSWORD,
    Person,
    World,
    assert_unchanged,
    db_snapshot,
    person,
    token_of,
)

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 5, 4, 12, 0, 0, 123456, tzinfo=dt.UTC)
ADDRESS = "203.0.113.7"  # what world.Person.actor acts from


@dataclass(frozen=True)
class Expected:
    workspace_id: str
    actor: Person
    action: str
    target_type: str
    event: str
    target_id: str
    target_label: str
    details: dict[str, Any] = field(default_factory=dict)


Scenario = Callable[[], Callable[[], list[Expected]]]
"""Sets up (outside the measured part) and returns the step that calls the service and
says which events it must have written, oldest first."""


def create() -> Callable[[], list[Expected]]:
    ada = person()

    def run() -> list[Expected]:
        ws = services.workspace_create(actor=ada.actor, name="  Lab ")
        return [Expected(ws.id, ada, "added", "configuration", "workspace.created", ws.id, "Lab",
                         {"name": "Lab", "plan": "community"})]  # fmt: skip

    return run


def create_business() -> Callable[[], list[Expected]]:
    ada = person()

    def run() -> list[Expected]:
        ws = services.workspace_create(
            actor=ada.actor, name="Biz", plan_id="business", payment_token="pm_card_amex"
        )
        return [
            Expected(ws.id, ada, "added", "configuration", "workspace.created", ws.id, "Biz",
                     {"name": "Biz", "plan": "business"}),
            Expected(ws.id, ada, "updated", "configuration", "billing.payment_method_added",
                     ws.id, "Biz", {"brand": "amex", "last4": "8431"}),
        ]  # fmt: skip

    return run


def rename() -> Callable[[], list[Expected]]:
    w = World(Role.ADMINISTRATOR, name="Acme")

    def run() -> list[Expected]:
        services.workspace_rename(actor=w.caller.actor, workspace_id=w.id, name="Acme 2")
        return [Expected(w.id, w.caller, "updated", "configuration", "workspace.renamed", w.id,
                         "Acme 2", {"before": "Acme", "after": "Acme 2"})]  # fmt: skip

    return run


def transfer() -> Callable[[], list[Expected]]:
    w = World(Role.OWNER, name="Acme")
    heir = w.collaborator

    def run() -> list[Expected]:
        services.workspace_transfer(
            actor=w.owner.actor, workspace_id=w.id, email=heir.email, password=PASSWORD
        )
        return [Expected(w.id, w.owner, "updated", "configuration",
                         "workspace.ownership_transferred", w.id, "Acme",
                         {"before": w.owner.email, "after": heir.email,
                          "new_owner_previous_role": "viewer"})]  # fmt: skip

    return run


def leave() -> Callable[[], list[Expected]]:
    w = World(Role.BILLING_MANAGER)

    def run() -> list[Expected]:
        services.workspace_leave(actor=w.caller.actor, workspace_id=w.id)
        return [Expected(w.id, w.caller, "removed", "collaborator", "collaborator.left",
                         w.caller.id, w.caller.email, {"role": "billing_manager"})]  # fmt: skip

    return run


def change_role() -> Callable[[], list[Expected]]:
    w = World(Role.ADMINISTRATOR)
    target = w.collaborator

    def run() -> list[Expected]:
        services.collaborator_change_role(
            actor=w.caller.actor, workspace_id=w.id, user_id=target.id, role="manager"
        )
        return [Expected(w.id, w.caller, "updated", "collaborator", "collaborator.role_changed",
                         target.id, target.email,
                         {"before": "viewer", "after": "manager"})]  # fmt: skip

    return run


def remove() -> Callable[[], list[Expected]]:
    w = World(Role.ADMINISTRATOR)
    target = w.collaborator

    def run() -> list[Expected]:
        services.collaborator_remove(actor=w.caller.actor, workspace_id=w.id, user_id=target.id)
        return [Expected(w.id, w.caller, "removed", "collaborator", "collaborator.removed",
                         target.id, target.email, {"role": "viewer"})]  # fmt: skip

    return run


def remove_self() -> Callable[[], list[Expected]]:
    w = World(Role.ADMINISTRATOR)

    def run() -> list[Expected]:
        services.collaborator_remove(actor=w.caller.actor, workspace_id=w.id, user_id=w.caller.id)
        return [Expected(w.id, w.caller, "removed", "collaborator", "collaborator.left",
                         w.caller.id, w.caller.email, {"role": "administrator"})]  # fmt: skip

    return run


def invite() -> Callable[[], list[Expected]]:
    w = World(Role.ADMINISTRATOR)

    def run() -> list[Expected]:
        inv = services.invitation_create(
            actor=w.caller.actor, workspace_id=w.id, email="New@Example.com", role="developer"
        )
        return [Expected(w.id, w.caller, "added", "collaborator", "collaborator.invited",
                         inv.id, "new@example.com", {"role": "developer"})]  # fmt: skip

    return run


def resend() -> Callable[[], list[Expected]]:
    w = World(Role.ADMINISTRATOR)
    inv = w.invitation

    def run() -> list[Expected]:
        services.invitation_resend(actor=w.caller.actor, workspace_id=w.id, invitation_id=inv.id)
        return [Expected(w.id, w.caller, "updated", "collaborator",
                         "collaborator.invitation_resent", inv.id, inv.email,
                         {"role": "developer"})]  # fmt: skip

    return run


def revoke() -> Callable[[], list[Expected]]:
    w = World(Role.ADMINISTRATOR)
    inv = w.invitation

    def run() -> list[Expected]:
        services.invitation_revoke(actor=w.caller.actor, workspace_id=w.id, invitation_id=inv.id)
        return [Expected(w.id, w.caller, "removed", "collaborator",
                         "collaborator.invitation_revoked", inv.id, inv.email,
                         {"role": "developer"})]  # fmt: skip

    return run


def accept() -> Callable[[], list[Expected]]:
    w = World(Role.OWNER)
    invitee = person(email="joiner@example.com")
    inv = services.invitation_create(
        actor=w.owner.actor, workspace_id=w.id, email=invitee.email, role="manager"
    )

    def run() -> list[Expected]:
        services.invitation_accept(actor=invitee.actor, token=token_of(inv))
        return [Expected(w.id, invitee, "added", "collaborator", "collaborator.joined",
                         invitee.id, invitee.email,
                         {"role": "manager", "invitation_id": inv.id})]  # fmt: skip

    return run


SCENARIOS: dict[str, Scenario] = {
    "workspace_create": create,
    "workspace_create_business": create_business,
    "workspace_rename": rename,
    "workspace_transfer": transfer,
    "workspace_leave": leave,
    "collaborator_change_role": change_role,
    "collaborator_remove": remove,
    "collaborator_remove_self": remove_self,
    "invitation_create": invite,
    "invitation_resend": resend,
    "invitation_revoke": revoke,
    "invitation_accept": accept,
}


def _event_ids() -> set[str]:
    return set(AuditEvent.objects.values_list("id", flat=True))


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_service_writes_its_event(name: str) -> None:
    with clock.frozen(T0 - dt.timedelta(hours=1)):
        run = SCENARIOS[name]()
    known = _event_ids()

    with clock.frozen(T0):
        expected = run()

    new = AuditEvent.objects.exclude(id__in=known).order_by("workspace_id", "seq")
    assert len(new) == len(expected)
    for event, want in zip(new, expected, strict=True):
        assert event.workspace_id == want.workspace_id
        assert event.action in Action.values and event.target_type in TargetType.values
        assert (event.action, event.target_type, event.event) == (
            want.action,
            want.target_type,
            want.event,
        )
        assert (event.target_id, event.target_label) == (want.target_id, want.target_label)
        assert event.details == want.details
        assert (event.actor_email, event.ip) == (want.actor.email, ADDRESS)
        assert event.occurred_at == T0
    # Appended to the workspace's chain, whose head moved along.
    for workspace_id in {e.workspace_id for e in new}:
        assert audit_verify(workspace_id=workspace_id).ok
        head = AuditChainHead.objects.get(workspace_id=workspace_id)
        newest = AuditEvent.objects.filter(workspace_id=workspace_id).latest("seq")
        assert (head.seq, head.hash) == (newest.seq, newest.hash)


class Boom(Exception):
    pass


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_change_cannot_outlive_a_failed_event(name: str) -> None:
    """If writing the event fails, the change is undone with it: one transaction."""
    run = SCENARIOS[name]()
    before = db_snapshot()

    def record_then_fail(**kwargs: Any) -> AuditEvent:
        audit_record(**kwargs)
        raise Boom

    with mock.patch.object(services, "audit_record", record_then_fail), pytest.raises(Boom):
        run()

    assert_unchanged(before)


def test_an_event_cannot_outlive_a_failed_change() -> None:
    """The card is stored after the events are written: if that fails, no event stays."""
    ada = person()
    before = db_snapshot()
    with (
        mock.patch.object(PaymentMethod.objects, "create", side_effect=Boom),
        pytest.raises(Boom),
    ):
        services.workspace_create(
            actor=ada.actor, name="Biz", plan_id="business", payment_token="pm_card_visa"
        )
    assert_unchanged(before)


# --- refusals write nothing -------------------------------------------------------------


Refusal = Callable[[World], Callable[[], Any]]
"""Sets up what the refused call needs, and returns that call."""


def _as(role: Role, service: Callable[..., Any], /, **kwargs: Callable[[World], Any]) -> Refusal:
    """`service` called by a new collaborator with `role` (or the owner), with arguments
    computed from the world before the call."""

    def setup(w: World) -> Callable[[], Any]:
        actor = w.owner.actor if role is Role.OWNER else w.add(role).actor
        values = {name: compute(w) for name, compute in kwargs.items()}
        return lambda: service(actor=actor, **values)

    return setup


def _ws(w: World) -> str:
    return w.id


REFUSALS: dict[str, tuple[Refusal, str]] = {
    "rename_forbidden": (
        _as(Role.MANAGER, services.workspace_rename, workspace_id=_ws, name=lambda w: "Nope"),
        "forbidden",
    ),
    "rename_invalid": (
        _as(Role.OWNER, services.workspace_rename, workspace_id=_ws, name=lambda w: " "),
        "validation_error",
    ),
    "delete_mismatch": (
        _as(Role.OWNER, services.workspace_delete, workspace_id=_ws, confirm=lambda w: "x"),
        "confirmation_mismatch",
    ),
    "delete_forbidden": (
        _as(Role.ADMINISTRATOR, services.workspace_delete, workspace_id=_ws,
            confirm=lambda w: w.workspace.name),
        "forbidden",
    ),
    "owner_leaves": (_as(Role.OWNER, services.workspace_leave, workspace_id=_ws),
                     "owner_cannot_leave"),
    "transfer_wrong_password": (
        _as(Role.OWNER, services.workspace_transfer, workspace_id=_ws,
            email=lambda w: w.collaborator.email, password=lambda w: "not-it"),
        "password_incorrect",
    ),
    "transfer_to_stranger": (
        _as(Role.OWNER, services.workspace_transfer, workspace_id=_ws,
            email=lambda w: person().email, password=lambda w: PASSWORD),
        "not_a_collaborator",
    ),
    "role_to_owner": (
        _as(Role.OWNER, services.collaborator_change_role, workspace_id=_ws,
            user_id=lambda w: w.collaborator.id, role=lambda w: "owner"),
        "invalid_role",
    ),
    "role_of_owner": (
        _as(Role.ADMINISTRATOR, services.collaborator_change_role, workspace_id=_ws,
            user_id=lambda w: w.owner.id, role=lambda w: "viewer"),
        "cannot_manage_owner",
    ),
    "remove_owner": (
        _as(Role.ADMINISTRATOR, services.collaborator_remove, workspace_id=_ws,
            user_id=lambda w: w.owner.id),
        "cannot_manage_owner",
    ),
    "remove_forbidden": (
        _as(Role.MANAGER, services.collaborator_remove, workspace_id=_ws,
            user_id=lambda w: w.collaborator.id),
        "forbidden",
    ),
    "invite_twice": (
        _as(Role.OWNER, services.invitation_create, workspace_id=_ws,
            email=lambda w: w.invitation.email, role=lambda w: "viewer"),
        "already_invited",
    ),
    "invite_member": (
        _as(Role.OWNER, services.invitation_create, workspace_id=_ws,
            email=lambda w: w.collaborator.email, role=lambda w: "viewer"),
        "already_collaborator",
    ),
    "revoke_forbidden": (
        _as(Role.DEVELOPER, services.invitation_revoke, workspace_id=_ws,
            invitation_id=lambda w: w.invitation.id),
        "forbidden",
    ),
    "accept_wrong_email": (
        _as(Role.VIEWER, services.invitation_accept, token=lambda w: token_of(w.invitation)),
        "invitation_email_mismatch",
    ),
    "second_community": (
        _as(Role.OWNER, services.workspace_create, name=lambda w: "Second"),
        "workspace_limit_reached",
    ),
    "declined_card": (
        _as(Role.OWNER, services.workspace_create, name=lambda w: "Biz",
            plan_id=lambda w: "business", payment_token=lambda w: "pm_card_chargeDeclined"),
        "card_declined",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", REFUSALS)
def test_a_refused_change_writes_no_event(name: str) -> None:
    world = World(Role.OWNER)
    setup, code = REFUSALS[name]
    call = setup(world)
    before = db_snapshot()

    with (
        mock.patch.object(services, "audit_record", side_effect=AssertionError("an event")),
        pytest.raises(ApplicationError) as refused,
    ):
        call()

    assert refused.value.code == code
    assert_unchanged(before)


def test_resend_throttled_writes_no_event() -> None:
    world = World(Role.OWNER)
    invitation = world.invitation
    for _ in range(2):
        services.invitation_resend(
            actor=world.owner.actor, workspace_id=world.id, invitation_id=invitation.id
        )
    before = db_snapshot()
    with pytest.raises(ApplicationError) as refused:
        services.invitation_resend(
            actor=world.owner.actor, workspace_id=world.id, invitation_id=invitation.id
        )
    assert refused.value.code == "resend_throttled"
    assert_unchanged(before)


def test_audit_record_refuses_to_run_outside_a_transaction(transactional_db: None) -> None:
    world = World(Role.OWNER)
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError, match="inside the change's transaction"):
        audit_record(
            workspace=world.workspace, actor=world.owner.actor, action=Action.UPDATED,
            target_type=TargetType.CONFIGURATION, target_id=world.id, target_label="x",
            event="workspace.renamed",
        )  # fmt: skip
    assert AuditEvent.objects.count() == before
    with transaction.atomic():
        audit_record(
            workspace=world.workspace, actor=None, action=Action.UPDATED,
            target_type=TargetType.CONFIGURATION, target_id=world.id, target_label="x",
            event="workspace.renamed",
        )  # fmt: skip
    assert AuditEvent.objects.count() == before + 1
    assert AuditEvent.objects.latest("occurred_at").actor_email == "system"


# --- no secrets -------------------------------------------------------------------------


def test_event_details_never_hold_secrets() -> None:
    world = World(Role.OWNER)
    heir = world.collaborator
    invitee = person(email="invitee@example.com")
    secrets = [PASSWORD]
    invitation = services.invitation_create(
        actor=world.owner.actor, workspace_id=world.id, email=invitee.email, role="viewer"
    )
    secrets += [token_of(invitation), invitation.token_nonce, invitation.token_digest]
    with clock.frozen(clock.now() + dt.timedelta(minutes=1)):
        invitation = services.invitation_resend(
            actor=world.owner.actor, workspace_id=world.id, invitation_id=invitation.id
        )
    secrets += [token_of(invitation), invitation.token_nonce, invitation.token_digest]
    services.invitation_accept(actor=invitee.actor, token=token_of(invitation))
    services.workspace_transfer(
        actor=world.owner.actor, workspace_id=world.id, email=heir.email, password=PASSWORD
    )
    card = services.workspace_create(
        actor=invitee.actor, name="Biz", plan_id="business", payment_token="pm_card_visa"
    )
    secrets += ["pm_card_visa", world.owner.token, heir.token, invitee.token]

    rows = list(AuditEvent.objects.filter(workspace_id__in=[world.id, card.id]).values())
    assert len(rows) >= 7
    stored = json.dumps(rows, default=str)
    for secret in secrets:
        assert secret not in stored


def test_secret_keys_are_redacted_at_any_depth() -> None:
    world = World(Role.OWNER)
    with transaction.atomic():
        event = audit_record(
            workspace=world.workspace, actor=world.owner.actor, action=Action.UPDATED,
            target_type=TargetType.CONFIGURATION, target_id=world.id, target_label="Acme",
            event="test.secrets",
            details={"password": "hunter2", "Token": "t0ken", "after": {"key": "k3y", "ok": 1},
                     "cards": [{"secret": "s3cret", "card_number": "4242424242424242"}]},
        )  # fmt: skip
    event.refresh_from_db()
    assert event.details == {
        "password": "[redacted]",
        "Token": "[redacted]",
        "after": {"key": "[redacted]", "ok": 1},
        "cards": [{"secret": "[redacted]", "card_number": "[redacted]"}],
    }
    assert audit_verify(workspace_id=world.id).ok


# --- the chain and `botyard audit verify` -----------------------------------------------


def _workspace_with_events(count: int = 6) -> tuple[World, list[AuditEvent]]:
    """A workspace whose chain holds `count` events (created, invited, joined, renames)."""
    with clock.frozen(T0):
        world = World(Role.VIEWER, name="Acme")  # 3 events: created, invited, joined
        for n in range(count - 3):
            clock.advance(dt.timedelta(minutes=1))
            services.workspace_rename(
                actor=world.owner.actor, workspace_id=world.id, name=f"Acme {n}"
            )
    events = list(AuditEvent.objects.filter(workspace_id=world.id).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, count + 1))
    return world, events


def _verify(capsys: pytest.CaptureFixture[str], workspace_id: str) -> tuple[int, str]:
    code = cli.main(["audit", "verify", "--workspace", workspace_id])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_an_intact_chain_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    world, events = _workspace_with_events()
    World(Role.MANAGER, name="Interleaved")  # another workspace's chain is separate
    services.workspace_rename(actor=world.owner.actor, workspace_id=world.id, name="Last")

    code, out = _verify(capsys, world.id)

    assert (code, out.strip()) == (0, "ok: 7 events, chain intact")
    for previous, event in itertools.pairwise(events):
        assert event.prev_hash == previous.hash
    assert events[0].prev_hash == chain.GENESIS


def test_a_workspace_without_events_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    owner = person()
    workspace = Workspace.objects.create(name="Bare", owner=owner.user, plan="community")
    assert _verify(capsys, workspace.id) == (0, "ok: 0 events, chain intact\n")


def test_an_unknown_workspace_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _verify(capsys, "ws_nosuchworkspace")
    assert code == 2
    assert "ws_nosuchworkspace" in out


@pytest.mark.parametrize(
    "change",
    [
        {"details": {"before": "Acme", "after": "Evil"}},
        {"actor_email": "someone.else@example.com"},
        {"action": "removed"},
        {"target_label": "Something else"},
        {"event": "workspace.created"},
        {"ip": "198.51.100.1"},
        {"occurred_at": T0 + dt.timedelta(microseconds=1)},
        {"hash": "f" * 64},
    ],
    ids=lambda change: next(iter(change)),
)
def test_an_edited_event_is_named(
    capsys: pytest.CaptureFixture[str], change: dict[str, Any]
) -> None:
    world, events = _workspace_with_events()
    edited = events[3]
    AuditEvent.objects.filter(pk=edited.pk).update(**change)

    code, out = _verify(capsys, world.id)

    assert code == 1
    assert f"broken at event {edited.id} (seq 4)" in out
    assert "altered" in out or "does not follow" in out


@pytest.mark.parametrize(
    ("column", "stored"),
    [
        ("occurred_at", "not a time"),
        ("occurred_at", "2026-02-30 10:00:00"),  # no such day
        ("occurred_at", "2026-03-01T09:31:00+01:00"),  # another form of another moment
        ("details", "{not json"),
    ],
)
def test_stored_text_no_writer_produces_is_named_not_a_crash(
    capsys: pytest.CaptureFixture[str], column: str, stored: str
) -> None:
    """SQLite keeps whatever text is written into a column (its CHECK on JSON set aside);
    verification reads it as text, and must call such a row altered."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's column types refuse such values")
    world, events = _workspace_with_events()
    edited = events[2]
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA ignore_check_constraints = ON")
        cursor.execute(
            f"UPDATE audit_auditevent SET {column} = %s WHERE id = %s", [stored, edited.id]
        )
        cursor.execute("PRAGMA ignore_check_constraints = OFF")

    code, out = _verify(capsys, world.id)

    assert code == 1
    assert f"broken at event {edited.id} (seq 3): content was altered" in out


def test_an_edited_newest_event_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    world, events = _workspace_with_events()
    AuditEvent.objects.filter(pk=events[-1].pk).update(target_label="rewritten")
    code, out = _verify(capsys, world.id)
    assert code == 1
    assert f"broken at event {events[-1].id} (seq 6): content was altered" in out


def test_a_removed_event_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    world, events = _workspace_with_events()
    AuditEvent.objects.filter(pk=events[2].pk).delete()

    code, out = _verify(capsys, world.id)

    # The first event that no longer fits is the one after the gap.
    assert code == 1
    assert f"broken at event {events[3].id} (seq 4): event seq 3 is missing (removed)" in out


def test_a_removed_first_event_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    world, events = _workspace_with_events()
    AuditEvent.objects.filter(pk=events[0].pk).delete()
    code, out = _verify(capsys, world.id)
    assert code == 1
    assert f"broken at event {events[1].id} (seq 2)" in out


def test_reordered_events_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    world, events = _workspace_with_events()
    second, fifth = events[1], events[4]
    # Swap their places in the chain (through a free seq: (workspace, seq) is unique).
    AuditEvent.objects.filter(pk=second.pk).update(seq=10_000)
    AuditEvent.objects.filter(pk=fifth.pk).update(seq=second.seq)
    AuditEvent.objects.filter(pk=second.pk).update(seq=fifth.seq)

    code, out = _verify(capsys, world.id)

    # The first position that holds the wrong event: seq 2, now holding the fifth event.
    assert code == 1
    assert f"broken at event {fifth.id} (seq 2)" in out


def test_reordered_timestamps_alone_are_caught(capsys: pytest.CaptureFixture[str]) -> None:
    world, events = _workspace_with_events()
    AuditEvent.objects.filter(pk=events[1].pk).update(occurred_at=events[4].occurred_at)
    AuditEvent.objects.filter(pk=events[4].pk).update(occurred_at=events[1].occurred_at)
    code, out = _verify(capsys, world.id)
    assert code == 1
    assert f"broken at event {events[1].id} (seq 2)" in out


def test_removed_newest_events_are_detected(capsys: pytest.CaptureFixture[str]) -> None:
    world, events = _workspace_with_events()
    AuditEvent.objects.filter(pk=events[-1].pk).delete()

    code, out = _verify(capsys, world.id)

    # Nothing after the last survivor is left to point at, so the report names the last
    # intact event and says that the newest ones were removed.
    assert code == 1
    assert f"event {events[-2].id} (seq 5)" in out
    assert "ends at seq 5 but 6 events were written (newest events removed)" in out


def test_all_events_removed_is_detected(capsys: pytest.CaptureFixture[str]) -> None:
    world, _ = _workspace_with_events()
    AuditEvent.objects.filter(workspace_id=world.id).delete()
    code, out = _verify(capsys, world.id)
    assert code == 1
    assert "ends at seq 0 but 6 events were written" in out
    assert "None" not in out


def test_a_consistently_rewritten_event_is_still_caught_by_the_next_link(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Editing an event and recomputing its own hash breaks the link to the next one."""
    world, events = _workspace_with_events()
    target = events[2]
    values = AuditEvent.objects.filter(pk=target.pk).values(*chain.HASHED_FIELDS).get()
    values["actor_email"] = "forger@example.com"
    forged = chain.link_hash(target.prev_hash, values)
    AuditEvent.objects.filter(pk=target.pk).update(actor_email="forger@example.com", hash=forged)

    code, out = _verify(capsys, world.id)

    assert code == 1
    assert f"broken at event {events[3].id} (seq 4): does not follow the previous event" in out


def test_an_erased_workspace_leaves_no_chain() -> None:
    world, _ = _workspace_with_events()
    services.workspace_delete(
        actor=world.owner.actor, workspace_id=world.id, confirm=world.refresh().name
    )
    assert not AuditEvent.objects.filter(workspace_id=world.id).exists()
    assert not AuditChainHead.objects.filter(workspace_id=world.id).exists()
