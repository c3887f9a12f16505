from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django_tasks import task

from botyard.workspaces.models import Invitation, InvitationStatus
from botyard.workspaces.tokens import invitation_token


@task()
def send_invitation_email(invitation_id: str, nonce: str) -> str:
    invitation = (
        Invitation.objects.select_related("workspace")
        .filter(id=invitation_id, status=InvitationStatus.PENDING, token_nonce=nonce)
        .first()
    )
    if invitation is None:
        return "skipped: revoked, accepted or resent since"
    token = invitation_token(invitation.id, nonce)
    context = {
        "invitation": invitation,
        "accept_url": f"{settings.BASE_URL}/invitations/accept?token={token}",
        "role_label": invitation.role.replace("_", " "),
    }
    send_mail(
        subject=(
            f"{invitation.invited_by_email} invited you to {invitation.workspace.name} on botyard"
        ),
        message=render_to_string("workspaces/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )
    return "sent"
