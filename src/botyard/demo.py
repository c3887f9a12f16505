"""Sample data for `botyard demo`, made through the same services a user calls (with the
clock moved back, in time order), so usage, invoices and the audit trail are real.
Idempotent: a second run finds the sample owner and changes nothing."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from botyard.accounts.models import User
from botyard.accounts.services import user_create
from botyard.billing import services as billing
from botyard.billing.closing import billing_close_periods
from botyard.bots import services as bots
from botyard.bots.models import Bot, BotKey
from botyard.core import clock
from botyard.core.actor import Actor
from botyard.messaging.services import IncomingMessage, message_ingest
from botyard.workspaces import services as ws
from botyard.workspaces.models import Invitation, Workspace
from botyard.workspaces.tokens import invitation_token

DEMO_PASSWORD = "yard-sail-4821"
DEMO_ADDRESS = "127.0.0.1"
HISTORY_DAYS = 75


@dataclass(frozen=True)
class DemoLogins:
    password: str
    accounts: list[tuple[str, str]]


SAMPLE_USERS = [
    ("olivia@demo.botyard.dev", "Olivia Owner", "owner of Acme Support and Globex Sales"),
    ("adam@demo.botyard.dev", "Adam Admin", "administrator; owner of Initech Labs"),
    ("mia@demo.botyard.dev", "Mia Manager", "manager"),
    ("dev@demo.botyard.dev", "Dev Developer", "developer"),
    ("bill@demo.botyard.dev", "Bill Billing", "billing manager"),
    ("vera@demo.botyard.dev", "Vera Viewer", "viewer"),
]

SUPPORT_BOT = {
    "format": 1,
    "greeting": "Hi! I'm the Acme help desk. Ask me about orders, returns or opening hours.",
    "fallback": "Sorry, I didn't get that. Try asking about orders, returns or opening hours.",
    "intents": [
        {"name": "hours", "examples": ["when are you open", "opening hours", "are you open today"],
         "reply": "We're open 9:00-17:00, Monday to Friday."},
        {"name": "returns", "examples": ["how do I return an item", "return policy", "refund"],
         "reply": "You can return any item within 30 days for a full refund."},
        {"name": "order_status", "examples": ["where is my order", "track my order",
                                              "order status"],
         "reply": "Send me your order number and I'll look it up."},
        {"name": "human", "examples": ["talk to a human", "speak to an agent", "real person"],
         "reply": "I'll connect you with a colleague, one moment."},
    ],
}  # fmt: skip

SALES_BOT = {
    "format": 1,
    "greeting": "Welcome to Globex! Looking for pricing or a demo?",
    "fallback": "I can help with pricing, demos and trials.",
    "intents": [
        {"name": "pricing", "examples": ["how much does it cost", "pricing", "price list"],
         "reply": "Plans start at $49 a month; see globex.example/pricing."},
        {"name": "demo", "examples": ["book a demo", "can I see a demo", "schedule a call"],
         "reply": "Pick a time that suits you at globex.example/demo."},
        {"name": "trial", "examples": ["free trial", "can I try it", "trial period"],
         "reply": "Every plan comes with a 14-day free trial."},
    ],
}  # fmt: skip

QUESTIONS = [
    "when are you open?", "What is your return policy", "where is my order #1042",
    "I want a refund", "can I talk to a human please", "hello", "how much does it cost",
    "book a demo for Tuesday", "is there a free trial", "thanks!", "opening hours on Friday?",
]  # fmt: skip


def _join(owner: Actor, workspace: Workspace, user: User, role: str) -> None:
    invitation = ws.invitation_create(
        actor=owner, workspace_id=workspace.id, email=user.email, role=role
    )
    invitation = Invitation.objects.get(pk=invitation.pk)
    token = invitation_token(invitation.id, invitation.token_nonce)
    ws.invitation_accept(actor=Actor(user, DEMO_ADDRESS), token=token)


def _publish(actor: Actor, bot: Bot, definition: dict[str, object]) -> None:
    bots.bot_update(
        actor=actor, workspace_id=bot.workspace_id, bot_id=bot.id, definition=definition
    )
    bots.bot_publish(actor=actor, workspace_id=bot.workspace_id, bot_id=bot.id)


def _traffic(key: tuple[BotKey, str], day: dt.datetime, rng: random.Random, busy: int) -> None:
    """A day of messages to the key's bot; `key` is the key and its secret."""
    key_row, secret = key
    for n in range(rng.randint(busy // 2, busy)):
        moment = day + dt.timedelta(hours=8, minutes=n * 7 % 600, seconds=n)
        with clock.frozen(moment):
            message_ingest(
                bot_id=key_row.bot_id,
                secret=secret,
                message=IncomingMessage(
                    user_id=f"visitor-{rng.randint(1, 40)}", text=rng.choice(QUESTIONS)
                ),
                idempotency_key=f"demo-{key_row.id}-{moment.isoformat()}",
            )


def load_demo() -> DemoLogins:
    logins = DemoLogins(
        password=DEMO_PASSWORD,
        accounts=[(email, description) for email, _, description in SAMPLE_USERS],
    )
    if User.objects.filter(email=SAMPLE_USERS[0][0]).exists():
        return logins
    rng = random.Random(4821)  # noqa: S311 - sample data, not secrets
    now = clock.now().replace(microsecond=0)
    start = (now - dt.timedelta(days=HISTORY_DAYS)).replace(hour=9, minute=0, second=0)
    with clock.frozen(start):
        users = {
            email.split("@")[0]: user_create(email=email, password=DEMO_PASSWORD, name=name)
            for email, name, _ in SAMPLE_USERS
        }
        olivia, adam = Actor(users["olivia"], DEMO_ADDRESS), Actor(users["adam"], DEMO_ADDRESS)
        dev = Actor(users["dev"], DEMO_ADDRESS)

        acme = ws.workspace_create(actor=olivia, name="Acme Support")
        for key, role in [("adam", "administrator"), ("mia", "manager"), ("dev", "developer"),
                          ("bill", "billing_manager"), ("vera", "viewer")]:  # fmt: skip
            _join(olivia, acme, users[key], role)
        helpdesk = bots.bot_create(actor=dev, workspace_id=acme.id, name="Help desk",
                                   description="Answers customers on the website.")  # fmt: skip
        _publish(dev, helpdesk, SUPPORT_BOT)
        faq = bots.bot_create(actor=olivia, workspace_id=acme.id, name="Returns FAQ",
                              description="Draft of a bot for the returns page.")  # fmt: skip

        globex = ws.workspace_create(
            actor=olivia, name="Globex Sales", plan_id="business", payment_token="pm_card_visa"
        )
        _join(olivia, globex, users["mia"], "administrator")
        _join(olivia, globex, users["bill"], "billing_manager")
        _join(olivia, globex, users["dev"], "developer")
        concierge = bots.bot_create(actor=dev, workspace_id=globex.id, name="Sales concierge")
        _publish(dev, concierge, SALES_BOT)
        billing.budget_set(actor=olivia, workspace_id=globex.id, amount_cents=15_000)

        initech = ws.workspace_create(actor=adam, name="Initech Labs")
        _join(adam, initech, users["olivia"], "developer")
        _join(adam, initech, users["dev"], "developer")
        bots.bot_create(actor=adam, workspace_id=initech.id, name="TPS report helper")

    with clock.frozen(start + dt.timedelta(days=20)):
        _publish(dev, helpdesk, {**SUPPORT_BOT, "greeting": "Hello from the Acme help desk!"})
        bots.bot_update(actor=dev, workspace_id=acme.id, bot_id=faq.id,
                        description="Draft: answers about returns and refunds.")  # fmt: skip
        ws.workspace_rename(actor=olivia, workspace_id=acme.id, name="Acme Customer Support")

    # Everything in time order, as it would have happened: the audit trail's chain stays
    # in time order (audit_record), which keeps date searches on their fast path.
    with clock.frozen(start + dt.timedelta(days=HISTORY_DAYS - 31)):
        keys = {
            bot.id: bots.bot_key_create(
                actor=dev, workspace_id=bot.workspace_id, bot_id=bot.id, name="website"
            )
            for bot in (helpdesk, concierge)
        }
    for offset in range(HISTORY_DAYS - 30, HISTORY_DAYS):
        day = start + dt.timedelta(days=offset)
        _traffic(keys[helpdesk.id], day, rng, busy=12)
        _traffic(keys[concierge.id], day, rng, busy=20)
        if offset % 28 == 0:
            billing_close_periods(now=day)
    with clock.frozen(now - dt.timedelta(days=1)):
        ws.invitation_create(
            actor=olivia, workspace_id=acme.id, email="newhire@demo.botyard.dev", role="developer"
        )
        bots.bot_export(actor=dev, workspace_id=acme.id, bot_id=helpdesk.id)
    billing_close_periods(now=now)
    return logins
