"""An invitation email really leaves over SMTP, and the link in it lets the invitee in."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import socket
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from botyard.workspaces.models import Membership
from botyard.workspaces.roles import Role
from tests.helpers import ApiClient
from tests.workspaces.world import World, person

pytestmark = pytest.mark.django_db

BASE_URL = "https://botyard.example.org"


class Inbox:
    """An aiosmtpd handler that keeps what it is sent."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [
            cast(
                EmailMessage,
                email.message_from_bytes(
                    cast(bytes, e.original_content or e.content), policy=email.policy.default
                ),
            )
            for e in self.envelopes
        ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_inbox(settings: Any) -> Iterator[Inbox]:
    inbox = Inbox()
    # The test server logs each connection's end at INFO from its own thread, which can
    # come after pytest has closed the stream the log handler writes to.
    server_log = logging.getLogger("mail.log")
    level = server_log.level
    server_log.setLevel(logging.WARNING)
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    settings.BASE_URL = BASE_URL
    try:
        yield inbox
    finally:
        controller.stop()
        server_log.setLevel(level)


def test_the_invitation_goes_out_over_smtp_and_its_link_works(
    api_client: ApiClient,
    smtp_inbox: Inbox,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    world = World(Role.OWNER, name="Acme")
    invitee = person(email="invitee@example.com")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api_client.post(
            f"/api/v1/workspaces/{world.id}/invitations",
            {"email": "invitee@example.com", "role": "developer"},
            token=world.owner.token,
        )
    assert response.status_code == 201, response.content
    assert len(callbacks) == 1  # the email task, queued for after the commit

    assert len(smtp_inbox.envelopes) == 1
    envelope = smtp_inbox.envelopes[0]
    assert envelope.rcpt_tos == ["invitee@example.com"]
    message = smtp_inbox.messages()[0]
    assert message["To"] == "invitee@example.com"
    assert "Acme" in message["Subject"]
    text = message.get_content()
    match = re.search(re.escape(BASE_URL) + r"/invitations/accept\?token=([0-9a-f]+)\s", text)
    assert match is not None, text
    token = match.group(1)

    accepted = api_client.post("/api/v1/invitations/accept", {"token": token}, token=invitee.token)

    assert accepted.status_code == 200, accepted.content
    assert accepted.json() == {"workspace": {"id": world.id, "name": "Acme"}, "role": "developer"}
    assert Membership.objects.get(workspace_id=world.id, user_id=invitee.id).role == "developer"
