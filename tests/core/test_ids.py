"""Ids: a prefix, then 48 bits of millisecond time and 80 random bits in Crockford
base32, so that ids made later sort after earlier ones."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from botyard.core import ids


@given(millis=st.integers(0, 2**50 - 1), random_bits=st.integers(0, 2**80 - 1))
def test_the_body_is_the_time_then_the_random_bits_in_crockford_digits(
    millis: int, random_bits: int
) -> None:
    assert ids._body(millis, random_bits) == ids._base32(millis, 10) + ids._base32(random_bits, 16)


def test_a_new_id_has_its_prefix_and_26_digits_and_sorts_after_an_older_one() -> None:
    older = ids.new_id("msg")
    assert re.fullmatch(r"msg_[0-9a-hjkmnp-tv-z]{26}", older)
    assert ids._body(0, 0) == "0" * 26
    assert ids._body(1, 2**80 - 1) == "0000000001" + "z" * 16
    assert ids.new_id("msg")[:14] >= older[:14]  # the time digits never go back
