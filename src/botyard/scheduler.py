"""Periodic work that `botyard worker` runs beside the task queue: closing billing periods
(and retrying failed charges) and expiring stale invitations. Each job is idempotent, so
several workers may run it at once."""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections, connection

from botyard.billing.closing import billing_close_periods
from botyard.core import clock
from botyard.workspaces.models import Invitation, InvitationStatus

logger = logging.getLogger("botyard.scheduler")


def expire_invitations() -> int:
    return Invitation.objects.filter(
        status=InvitationStatus.PENDING, expires_at__lte=clock.now()
    ).update(status=InvitationStatus.EXPIRED)


def run_once() -> None:
    close_old_connections()
    try:
        report = billing_close_periods(now=clock.now())
        if report.issued or report.failed or report.charged:
            logger.info("billing: %s", report.describe())
        expired = expire_invitations()
        if expired:
            logger.info("invitations: %d expired", expired)
    except Exception:
        logger.exception("scheduled work failed; it runs again at the next interval")
    finally:
        connection.close()


def start(interval_seconds: float, stop: threading.Event) -> threading.Thread:
    def loop() -> None:
        while not stop.is_set():
            run_once()
            stop.wait(interval_seconds)

    thread = threading.Thread(target=loop, name="botyard-scheduler", daemon=True)
    thread.start()
    return thread
