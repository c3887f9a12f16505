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


def note_usage(
    *,
    workspace: Workspace,
    counter_id: int,
    used: int,
    included: int,
    already_sent: frozenset[str] = frozenset(),
) -> None:
    """Call inside the transaction that counted a message, with the new count and the
    counter's alert flags as that count's UPDATE left them (`already_sent`: the flags that
    were set). The UPDATE holds the counter's row lock until commit, so a flag read set
    there stays set; one read unset is claimed below, conditionally, as ever."""
    bill = bill_cents(workspace, used) if workspace.budget_cents is not None else 0
    for threshold in THRESHOLDS:
        if threshold.measure == "messages":
            reached = included > 0 and used >= threshold.share * included
        else:
            budget = workspace.budget_cents
            reached = budget is not None and budget > 0 and bill >= threshold.share * budget
        if not reached or threshold.flag in already_sent:
            continue
        claimed = UsageCounter.objects.filter(pk=counter_id, **{threshold.flag: False}).update(
            **{threshold.flag: True}
        )
        if claimed:
            # Enqueued inside the transaction, not on commit: the task table is in the same
            # database, so the flag and the queued email commit together or not at all.
            tasks.send_usage_alert.enqueue(
                workspace.id, threshold.measure, int(threshold.share * 100)
            )
