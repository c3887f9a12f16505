from __future__ import annotations

from ninja import Schema


class ProblemOut(Schema):
    type: str
    title: str
    status: int
    detail: str
    code: str


class Money(Schema):
    amount: int
    currency: str
