"""Throttling of failed sign-ins, per account, per client address, and per both.

Only failures count, and a bucket empties by itself once its window has passed, so an
attacker can keep a victim's account closed for at most one window after the last
failed guess (ADR 0002). Counts live in the database, shared by all server processes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Min

from botyard.accounts.models import FailedAttempt
from botyard.core import clock
from botyard.core.errors import Throttled

WINDOW = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class Bucket:
    key: str
    limit: int


def buckets_for(email: str, address: str) -> list[Bucket]:
    return [
        Bucket(f"pair:{email}|{address}", 5),
        Bucket(f"account:{email}", 20),
        Bucket(f"address:{address}", 100),
    ]


def check(buckets: list[Bucket]) -> None:
    since = clock.now() - WINDOW
    for bucket in buckets:
        recent = FailedAttempt.objects.filter(key=bucket.key, at__gt=since)
        if recent.count() >= bucket.limit:
            oldest = recent.aggregate(first=Min("at"))["first"] or clock.now()
            retry_after = int((oldest + WINDOW - clock.now()).total_seconds()) + 1
            raise Throttled(
                "Too many failed attempts. Wait a few minutes and try again.",
                retry_after=retry_after,
                code="too_many_attempts",
            )


def record_failure(buckets: list[Bucket]) -> None:
    at = clock.now()
    FailedAttempt.objects.bulk_create([FailedAttempt(key=b.key, at=at) for b in buckets])
    # Old rows carry no information; drop them as we go so the table stays small.
    FailedAttempt.objects.filter(at__lt=at - WINDOW).delete()


def clear_pair(buckets: list[Bucket]) -> None:
    FailedAttempt.objects.filter(key=buckets[0].key).delete()
