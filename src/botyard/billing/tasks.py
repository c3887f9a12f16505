from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django_tasks import task

from botyard.workspaces.models import Membership, Workspace
from botyard.workspaces.roles import Permission, roles_with


@task()
def send_usage_alert(workspace_id: str, measure: str, percent: int) -> str:
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return "skipped: workspace deleted"
    billing_roles = [role.value for role in roles_with(Permission.BILLING_CHANGE)]
    recipients = sorted(
        Membership.objects.filter(workspace=workspace, role__in=billing_roles).values_list(
            "user__email", flat=True
        )
    )
    what = "its included messages" if measure == "messages" else "its monthly budget"
    consequence = (
        "Bots stop answering when the limit is reached, until the period renews or the plan "
        "is upgraded."
        if percent >= 100 and measure == "messages"
        else "Messages that would take the bill over the budget are refused."
        if measure == "budget"
        else "You can upgrade the plan or raise the budget on the Billing tab."
    )
    send_mail(
        subject=f"{workspace.name} has used {percent}% of {what}",
        message=(
            f'The workspace "{workspace.name}" has used {percent}% of {what} this billing '
            f"period.\n\n{consequence}\n\nBilling: {settings.BASE_URL}/w/{workspace.id}/billing\n"
        ),
        from_email=None,
        recipient_list=recipients,
    )
    return f"sent to {len(recipients)}"
