from __future__ import annotations

from typing import Any

from ninja import Schema
from ninja.schema import DjangoGetter
from pydantic import model_validator


class ProblemOut(Schema):
    type: str
    title: str
    status: int
    detail: str
    code: str


class Money(Schema):
    amount: int
    currency: str


class ObjectIn(Schema):
    """A request body that must be a JSON object. A Ninja Schema also validates any value
    by its attributes (so that it can read models), so a body whose fields are all optional
    would otherwise take `[]`, `5` or `"x"` for an empty object."""

    @model_validator(mode="before")
    @classmethod
    def _must_be_an_object(cls, value: Any) -> Any:
        # Schema's own (outer) validator has already wrapped the value for attribute access.
        raw = value._obj if isinstance(value, DjangoGetter) else value
        if not isinstance(raw, dict):
            raise ValueError("The body must be a JSON object.")
        return value
