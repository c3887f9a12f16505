"""The one clock. Tests move it with `frozen(at)`; nothing else calls `timezone.now()`."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

from django.utils import timezone

_offset = dt.timedelta(0)
_fixed: dt.datetime | None = None


def now() -> dt.datetime:
    if _fixed is not None:
        return _fixed
    return timezone.now() + _offset


@contextlib.contextmanager
def frozen(at: dt.datetime) -> Iterator[None]:
    global _fixed
    previous, _fixed = _fixed, at
    try:
        yield
    finally:
        _fixed = previous


def advance(delta: dt.timedelta) -> None:
    """Move a frozen clock forward, or shift the live clock."""
    global _fixed, _offset
    if _fixed is not None:
        _fixed = _fixed + delta
    else:
        _offset += delta


def reset() -> None:
    global _fixed, _offset
    _fixed, _offset = None, dt.timedelta(0)
