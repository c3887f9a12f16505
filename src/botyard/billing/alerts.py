"""Usage alerts (product.md §6): one email per period to the owner and the billing
collaborators when 75 % and when 100 % of the included messages, or of the budget, is
reached."""

from __future__ import annotations

from dataclasses import dataclass

from botyard.billing import tasks
from botyard.billing.money import bill_cents
from botyard.messaging.models import UsageCounter
from botyard.workspaces.models import Workspace


@dataclass(frozen=True)
class Threshold:
    flag: str
    share: float
    measure: str  # "messages" or "budget"


THRESHOLDS = (
    Threshold("alerted_messages_75", 0.75, "messages"),
    Threshold("alerted_messages_100", 1.0, "messages"),
    Threshold("alerted_budget_75", 0.75, "budget"),
    Threshold("alerted_budget_100", 1.0, "budget"),
)


def _due(
    workspace: Workspace, used: int, included: int, already_sent: frozenset[str]
) -> list[Threshold]:
    """The thresholds `used` messages reach whose flag was not set."""
    bill = bill_cents(workspace, used) if workspace.budget_cents is not None else 0
    due = []
    for threshold in THRESHOLDS:
        if threshold.flag in already_sent:
            continue
        if threshold.measure == "messages":
            reached = included > 0 and used >= threshold.share * included
        else:
            budget = workspace.budget_cents
            reached = budget is not None and budget > 0 and bill >= threshold.share * budget
        if reached:
            due.append(threshold)
    return due


def alerts_due(
    *, workspace: Workspace, used: int, included: int, already_sent: frozenset[str]
) -> bool:
    """Whether note_usage has an alert to claim for a count of `used` messages."""
    return bool(_due(workspace, used, included, already_sent))


def note_usage(
    *,
    workspace: Workspace,
    counter_id: int,
    used: int,
    included: int,
    already_sent: frozenset[str] = frozenset(),
) -> None:
    """Claim and enqueue the alerts a count of `used` messages has reached. Call inside a
    transaction, after the count has been made (`already_sent`: the counter's flags that
    count found set). A flag once set stays set for the period; one found unset is
    claimed below by a conditional UPDATE, so each alert is sent once however many
    processes reach its threshold."""
    for threshold in _due(workspace, used, included, already_sent):
        claimed = UsageCounter.objects.filter(pk=counter_id, **{threshold.flag: False}).update(
            **{threshold.flag: True}
        )
        if claimed:
            # Enqueued in the claim's transaction, not on commit: the task table is in the
            # same database, so the flag and the queued email commit together or not at all.
            tasks.send_usage_alert.enqueue(
                workspace.id, threshold.measure, int(threshold.share * 100)
            )
