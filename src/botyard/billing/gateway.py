"""The payment gateway interface and the built-in offline gateway.

The offline gateway answers Stripe's well-known test payment-method ids the way Stripe's
test mode does, so that a Stripe-backed gateway can replace it behind `PaymentGateway`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from botyard.core import clock
from botyard.core.errors import ValidationFailed


class CardDeclined(ValidationFailed):
    code = "card_declined"
    title = "Card declined"


class InvalidPaymentMethod(ValidationFailed):
    code = "invalid_payment_method"
    title = "Invalid payment method"


@dataclass(frozen=True)
class CardDetails:
    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class ChargeResult:
    succeeded: bool
    charge_id: str
    decline_code: str | None = None


class PaymentGateway(Protocol):
    def attach(self, token: str) -> CardDetails: ...

    def charge(
        self, *, token: str, amount_cents: int, currency: str, idempotency_key: str
    ) -> ChargeResult: ...


@dataclass(frozen=True)
class _TestCard:
    brand: str
    last4: str
    attach_decline: str | None = None  # Stripe declines these when attached
    charge_decline: str | None = None  # attaches, but every charge fails


TEST_CARDS: dict[str, _TestCard] = {
    "pm_card_visa": _TestCard("visa", "4242"),
    "pm_card_visa_debit": _TestCard("visa", "5556"),
    "pm_card_mastercard": _TestCard("mastercard", "4444"),
    "pm_card_mastercard_debit": _TestCard("mastercard", "8210"),
    "pm_card_mastercard_prepaid": _TestCard("mastercard", "5100"),
    "pm_card_amex": _TestCard("amex", "8431"),
    "pm_card_discover": _TestCard("discover", "1117"),
    "pm_card_diners": _TestCard("diners", "0004"),
    "pm_card_jcb": _TestCard("jcb", "0000"),
    "pm_card_unionpay": _TestCard("unionpay", "0005"),
    "pm_card_chargeDeclined": _TestCard("visa", "0002", attach_decline="generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": _TestCard(
        "visa", "9995", attach_decline="insufficient_funds"
    ),
    "pm_card_chargeDeclinedLostCard": _TestCard("visa", "9987", attach_decline="lost_card"),
    "pm_card_chargeDeclinedStolenCard": _TestCard("visa", "9979", attach_decline="stolen_card"),
    "pm_card_chargeDeclinedExpiredCard": _TestCard("visa", "0069", attach_decline="expired_card"),
    "pm_card_chargeDeclinedIncorrectCvc": _TestCard("visa", "0127", attach_decline="incorrect_cvc"),
    "pm_card_chargeDeclinedProcessingError": _TestCard(
        "visa", "0119", attach_decline="processing_error"
    ),
    # Stripe's id for 4000 0000 0000 0341, which attaches but fails every charge; the
    # dashboard's test-card chooser offers it as pm_card_visa_chargeDeclined.
    "pm_card_chargeCustomerFail": _TestCard("visa", "0341", charge_decline="generic_decline"),
    "pm_card_visa_chargeDeclined": _TestCard("visa", "0341", charge_decline="generic_decline"),
}

DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "lost_card": "Your card was declined.",
    "stolen_card": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "processing_error": "An error occurred while processing your card. Try again.",
}


class OfflineGateway:
    def _card(self, token: str) -> _TestCard:
        card = TEST_CARDS.get(token)
        if card is None:
            raise InvalidPaymentMethod.field(
                "payment_method",
                "Unknown payment method. In offline mode use a Stripe test id such as "
                "pm_card_visa.",
                code="invalid_payment_method",
            )
        return card

    def attach(self, token: str) -> CardDetails:
        card = self._card(token)
        if card.attach_decline:
            raise CardDeclined.field(
                "payment_method", DECLINE_MESSAGES[card.attach_decline], code="card_declined"
            )
        # Stripe's test cards carry a future expiry; December, a few years ahead.
        return CardDetails(token, card.brand, card.last4, 12, clock.now().year + 3)

    def charge(
        self, *, token: str, amount_cents: int, currency: str, idempotency_key: str
    ) -> ChargeResult:
        card = self._card(token)
        # The charge id is a function of the idempotency key: a retried charge is the same
        # charge, as with Stripe's Idempotency-Key header.
        charge_id = "ch_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        if card.charge_decline or card.attach_decline:
            return ChargeResult(False, charge_id, card.charge_decline or card.attach_decline)
        return ChargeResult(True, charge_id)


def get_gateway() -> PaymentGateway:
    return OfflineGateway()
