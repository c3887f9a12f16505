"""gunicorn settings used by `botyard serve`: tidy up a dead worker's metric files."""

from __future__ import annotations

from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
