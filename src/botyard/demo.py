"""Sample data for `botyard demo`, made through the same services a user calls, so the
audit trail is real. Idempotent: a second run finds the sample owner and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from botyard.accounts.models import User
from botyard.accounts.services import user_create
from botyard.core.actor import Actor
from botyard.workspaces import services as ws
from botyard.workspaces.models import Invitation, Workspace
from botyard.workspaces.tokens import invitation_token

DEMO_PASSWORD = "yard-sail-4821"
DEMO_ADDRESS = "127.0.0.1"


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


def _join(owner: Actor, workspace: Workspace, user: User, role: str) -> None:
    invitation = ws.invitation_create(
        actor=owner, workspace_id=workspace.id, email=user.email, role=role
    )
    invitation = Invitation.objects.get(pk=invitation.pk)
    token = invitation_token(invitation.id, invitation.token_nonce)
    ws.invitation_accept(actor=Actor(user, DEMO_ADDRESS), token=token)


def load_demo() -> DemoLogins:
    logins = DemoLogins(
        password=DEMO_PASSWORD,
        accounts=[(email, description) for email, _, description in SAMPLE_USERS],
    )
    if User.objects.filter(email=SAMPLE_USERS[0][0]).exists():
        return logins
    users = {
        email.split("@")[0]: user_create(email=email, password=DEMO_PASSWORD, name=name)
        for email, name, _ in SAMPLE_USERS
    }
    olivia = Actor(users["olivia"], DEMO_ADDRESS)
    adam = Actor(users["adam"], DEMO_ADDRESS)

    acme = ws.workspace_create(actor=olivia, name="Acme Support")
    for key, role in [
        ("adam", "administrator"),
        ("mia", "manager"),
        ("dev", "developer"),
        ("bill", "billing_manager"),
        ("vera", "viewer"),
    ]:
        _join(olivia, acme, users[key], role)
    ws.invitation_create(
        actor=olivia, workspace_id=acme.id, email="newhire@demo.botyard.dev", role="developer"
    )
    ws.workspace_rename(actor=olivia, workspace_id=acme.id, name="Acme Customer Support")

    globex = ws.workspace_create(
        actor=olivia, name="Globex Sales", plan_id="business", payment_token="pm_card_visa"
    )
    _join(olivia, globex, users["mia"], "administrator")
    _join(olivia, globex, users["bill"], "billing_manager")

    initech = ws.workspace_create(actor=adam, name="Initech Labs")
    _join(adam, initech, users["olivia"], "developer")
    _join(adam, initech, users["dev"], "developer")
    return logins
