"""Billing periods (product.md §6): monthly, anchored on the day the plan started, each
boundary computed from the anchor so that month-end clamping never drifts."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botyard.billing.periods import Period, add_months, current_period, period_containing

UTC = dt.UTC
US = dt.timedelta(microseconds=1)


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- add_months ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "months", "expected"),
    [
        (at(2026, 1, 15), 1, at(2026, 2, 15)),
        (at(2026, 1, 15), 0, at(2026, 1, 15)),
        (at(2026, 11, 15), 2, at(2027, 1, 15)),
        (at(2026, 1, 15), 12, at(2027, 1, 15)),
        (at(2026, 1, 15), 25, at(2028, 2, 15)),
        (at(2026, 3, 15), -1, at(2026, 2, 15)),
        (at(2026, 1, 15), -1, at(2025, 12, 15)),
        # Month-end clamping: the anchor's day where the month has it, else its last day.
        (at(2026, 1, 31), 1, at(2026, 2, 28)),
        (at(2028, 1, 31), 1, at(2028, 2, 29)),  # a leap year
        (at(2026, 1, 31), 2, at(2026, 3, 31)),  # back to the 31st, not the 28th
        (at(2026, 1, 31), 3, at(2026, 4, 30)),
        (at(2026, 1, 31), 4, at(2026, 5, 31)),
        (at(2026, 8, 31), 1, at(2026, 9, 30)),
        (at(2026, 1, 30), 1, at(2026, 2, 28)),
        (at(2026, 1, 29), 1, at(2026, 2, 28)),
        (at(2028, 1, 29), 1, at(2028, 2, 29)),
        (at(2028, 2, 29), 12, at(2029, 2, 28)),
        (at(2028, 2, 29), 48, at(2032, 2, 29)),
        (at(2026, 3, 31), -1, at(2026, 2, 28)),
    ],
)
def test_add_months(anchor: dt.datetime, months: int, expected: dt.datetime) -> None:
    assert add_months(anchor, months) == expected


def test_add_months_keeps_the_time_of_day_and_the_zone() -> None:
    anchor = dt.datetime(2026, 1, 31, 23, 59, 58, 123456, tzinfo=UTC)
    assert add_months(anchor, 1) == dt.datetime(2026, 2, 28, 23, 59, 58, 123456, tzinfo=UTC)
    assert add_months(anchor, 1).tzinfo is UTC


# --- period_containing -----------------------------------------------------------------

JAN_31 = at(2026, 1, 31)


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        (JAN_31, JAN_31, at(2026, 2, 28)),  # the anchor itself opens the first period
        (at(2026, 2, 1), JAN_31, at(2026, 2, 28)),
        (at(2026, 2, 28) - US, JAN_31, at(2026, 2, 28)),
        (at(2026, 2, 28), at(2026, 2, 28), at(2026, 3, 31)),  # a boundary starts a period
        (at(2026, 3, 1), at(2026, 2, 28), at(2026, 3, 31)),
        (at(2026, 3, 31, 9, 59), at(2026, 2, 28), at(2026, 3, 31)),  # same day, earlier
        (at(2026, 3, 31), at(2026, 3, 31), at(2026, 4, 30)),
        (at(2026, 4, 30, 11), at(2026, 4, 30), at(2026, 5, 31)),
        (at(2026, 12, 31, 10), at(2026, 12, 31), at(2027, 1, 31)),
        (at(2027, 1, 31, 9), at(2026, 12, 31), at(2027, 1, 31)),
        (at(2028, 2, 29, 10), at(2028, 2, 29), at(2028, 3, 31)),
    ],
)
def test_the_period_anchored_on_jan_31(
    now: dt.datetime, start: dt.datetime, end: dt.datetime
) -> None:
    assert period_containing(JAN_31, now) == Period(start, end)


def test_a_period_starts_on_the_plan_start_day_at_its_time() -> None:
    anchor = dt.datetime(2026, 5, 17, 14, 30, 5, tzinfo=UTC)
    period = period_containing(anchor, at(2026, 8, 2))
    assert period == Period(
        dt.datetime(2026, 7, 17, 14, 30, 5, tzinfo=UTC),
        dt.datetime(2026, 8, 17, 14, 30, 5, tzinfo=UTC),
    )


def test_the_instant_before_a_boundary_is_in_the_period_it_ends() -> None:
    anchor = at(2026, 5, 17)
    boundary = at(2026, 6, 17)
    assert period_containing(anchor, boundary - US).end == boundary
    assert period_containing(anchor, boundary).start == boundary


def test_before_the_anchor_the_first_period_is_answered() -> None:
    # A clock a little behind the plan's start (another server's clock) must not crash.
    assert period_containing(JAN_31, JAN_31 - dt.timedelta(hours=1)) == Period(
        JAN_31, at(2026, 2, 28)
    )


# --- seconds_left ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "seconds"),
    [
        (dt.timedelta(days=28), 28 * 86_400),
        (dt.timedelta(seconds=60), 60),
        (dt.timedelta(seconds=90, microseconds=500_000), 91),  # rounded up, never early
        (dt.timedelta(microseconds=1), 1),
        (dt.timedelta(0), 1),  # at least 1: Retry-After: 0 would invite a busy loop
        (dt.timedelta(seconds=-5), 1),
    ],
)
def test_seconds_left(left: dt.timedelta, seconds: int) -> None:
    period = Period(JAN_31, at(2026, 2, 28))
    assert period.seconds_left(period.end - left) == seconds


# --- properties ------------------------------------------------------------------------

anchors = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2080, 12, 31), timezones=st.just(UTC)
)
offsets = st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=366 * 15))


@settings(deadline=None, max_examples=300)
@given(anchor=anchors, offset=offsets)
def test_the_period_contains_now_and_is_anchored(anchor: dt.datetime, offset: dt.timedelta
                                                 ) -> None:  # fmt: skip
    now = anchor + offset
    period = period_containing(anchor, now)

    assert period.start <= now < period.end
    k = (period.start.year - anchor.year) * 12 + period.start.month - anchor.month
    assert k >= 0
    assert period.start == add_months(anchor, k)
    assert period.end == add_months(anchor, k + 1)
    assert dt.timedelta(days=28) <= period.end - period.start <= dt.timedelta(days=31)
    # The periods tile time: the next one starts where this one ends, and the instant
    # before this one belongs to the previous one.
    assert period_containing(anchor, period.end).start == period.end
    if period.start > anchor:
        assert period_containing(anchor, period.start - US).end == period.start
    assert 1 <= period.seconds_left(now) <= 31 * 86_400


@settings(deadline=None)
@given(anchor=anchors, months=st.integers(min_value=0, max_value=240))
def test_add_months_lands_on_the_anchor_day_or_the_month_end(
    anchor: dt.datetime, months: int
) -> None:
    moved = add_months(anchor, months)

    assert (moved.year - anchor.year) * 12 + moved.month - anchor.month == months
    assert moved.time() == anchor.time()
    if moved.day != anchor.day:
        assert moved.day < anchor.day
        assert (moved + dt.timedelta(days=1)).day == 1  # clamped to the month's last day


@settings(deadline=None, max_examples=200)
@given(
    anchor=anchors,
    moments=st.lists(
        st.timedeltas(min_value=-dt.timedelta(days=40), max_value=dt.timedelta(days=400)),
        min_size=1,
        max_size=12,
    ),
)
def test_the_remembered_period_is_the_period_containing(
    anchor: dt.datetime, moments: list[dt.timedelta]
) -> None:
    """current_period answers as period_containing does, whatever it was asked before
    (including instants before the anchor, and going back in time)."""
    for moment in moments:
        now = anchor + moment
        assert current_period(anchor, now) == period_containing(anchor, now)
