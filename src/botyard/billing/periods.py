"""Monthly billing periods anchored on the day the workspace started its current plan.

Each boundary is computed from the anchor (not from the previous boundary), so a plan
started on the 31st has periods ending on Feb 28 and then on Mar 31 again."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Period:
    start: dt.datetime
    end: dt.datetime  # exclusive

    def seconds_left(self, now: dt.datetime) -> int:
        # Rounded up: a client that waits this long must find the period over.
        left = self.end - now
        whole = left.days * 86_400 + left.seconds + (1 if left.microseconds else 0)
        return max(1, whole)


def add_months(anchor: dt.datetime, months: int) -> dt.datetime:
    total = anchor.month - 1 + months
    year, month = anchor.year + total // 12, total % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def period_containing(anchor: dt.datetime, now: dt.datetime) -> Period:
    if now < anchor:
        return Period(anchor, add_months(anchor, 1))
    months = (now.year - anchor.year) * 12 + (now.month - anchor.month)
    start = add_months(anchor, months)
    if start > now:
        months -= 1
        start = add_months(anchor, months)
    return Period(start, add_months(anchor, months + 1))


# anchor -> the period last found for it: every incoming message asks for the period of
# its workspace's anchor, and the answer changes once a month.
_LAST_FOUND: dict[dt.datetime, Period] = {}
_LAST_FOUND_MAX = 10_000


def current_period(anchor: dt.datetime, now: dt.datetime) -> Period:
    """period_containing(anchor, now), remembered per anchor while `now` stays in it."""
    found = _LAST_FOUND.get(anchor)
    if found is not None and found.start <= now < found.end:
        return found
    found = period_containing(anchor, now)
    if len(_LAST_FOUND) >= _LAST_FOUND_MAX:
        _LAST_FOUND.clear()
    _LAST_FOUND[anchor] = found
    return found
