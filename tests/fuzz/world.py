"""A workspace with one of everything a route can name, for the API fuzz tests: each path
parameter of the OpenAPI document maps to a real id here."""

from __future__ import annotations

import datetime as dt
from functools import cached_property

from botyard.billing.closing import billing_close_periods
from botyard.billing.models import Invoice
from botyard.bots import services as bot_services
from botyard.core import clock
from botyard.messaging import services as messaging
from botyard.workspaces.roles import Role
from tests import factories
from tests.workspaces.world import Person, World, person

# Long enough ago that one monthly period has ended, so the workspace has an invoice.
STARTED = dt.timedelta(days=40)


class FuzzWorld(World):
    """A Business workspace, started 40 days ago, with a collaborator, a pending invitation,
    a published bot with a key and a conversation, an invoice, and a spare token of the
    caller (the one the token routes get, so that revoking it does not sign the caller out)."""

    def __init__(self, role: Role | None) -> None:
        with clock.frozen(clock.now() - STARTED):
            super().__init__(role, plan="business")
        bot_services.bot_publish(actor=self.owner.actor, workspace_id=self.id, bot_id=self.bot.id)
        billing_close_periods(now=clock.now())
        made_on_first_use = ("collaborator", "invitation", "key", "conversation_id", "outsider",
                             "invoice_id", "spare_token_id")  # fmt: skip
        for name in made_on_first_use:
            getattr(self, name)  # made now, outside the tests' savepoints

    @cached_property
    def outsider(self) -> Person:
        """Signed in, but no collaborator of the workspace."""
        return person(name="Otto Outsider")

    @cached_property
    def conversation_id(self) -> str:
        hello = messaging.IncomingMessage(user_id="end-user-1", text="opening hours")
        answer = messaging.message_ingest(bot_id=self.bot.id, secret=self.key_secret, message=hello)
        return str(answer["conversation_id"])

    @cached_property
    def spare_token_id(self) -> str:
        return factories.token(user=self.caller.user, name="spare")[0].id

    @cached_property
    def invoice_id(self) -> str:
        return Invoice.objects.filter(workspace_id=self.id).order_by("issued_at").first().id

    def path_parameters(self) -> dict[str, str]:
        """A real id for every path parameter of the API."""
        return {
            "workspace_id": self.id,
            "bot_id": self.bot.id,
            "user_id": self.collaborator.id,
            "invitation_id": self.invitation.id,
            "key_id": self.key.id,
            "token_id": self.spare_token_id,
            "invoice_id": self.invoice_id,
        }
