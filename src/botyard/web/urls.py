from django.urls import path

from botyard.core.metrics import metrics_view
from botyard.web import audit_pages, billing_pages, bot_pages, pages, views

app_name = "web"

ws = "w/<str:workspace_id>/"

urlpatterns = [
    path("", pages.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("workspaces/new", pages.workspace_new, name="workspace_new"),
    path("invitations/accept", pages.invitation_accept, name="invitation_accept"),
    path(ws, pages.workspace_home, name="workspace"),
    path(ws + "bots", bot_pages.bots, name="bots"),
    path(ws + "bots/import", bot_pages.bot_import, name="bot_import"),
    path(ws + "bots/<str:bot_id>", bot_pages.bot_page, name="bot"),
    path(ws + "bots/<str:bot_id>/publish", bot_pages.bot_publish, name="bot_publish"),
    path(ws + "bots/<str:bot_id>/export", bot_pages.bot_export, name="bot_export"),
    path(ws + "bots/<str:bot_id>/delete", bot_pages.bot_delete, name="bot_delete"),
    path(ws + "bots/<str:bot_id>/keys", bot_pages.bot_key_create, name="bot_key_create"),
    path(
        ws + "bots/<str:bot_id>/keys/<str:key_id>/revoke",
        bot_pages.bot_key_revoke,
        name="bot_key_revoke",
    ),
    path(ws + "collaborators", pages.collaborators, name="collaborators"),
    path(
        ws + "collaborators/<str:user_id>/role", pages.collaborator_role, name="collaborator_role"
    ),
    path(
        ws + "collaborators/<str:user_id>/remove",
        pages.collaborator_remove,
        name="collaborator_remove",
    ),
    path(
        ws + "invitations/<str:invitation_id>/resend",
        pages.invitation_resend,
        name="invitation_resend",
    ),
    path(
        ws + "invitations/<str:invitation_id>/revoke",
        pages.invitation_revoke,
        name="invitation_revoke",
    ),
    path(ws + "billing", billing_pages.billing, name="billing"),
    path(ws + "billing/plan", billing_pages.billing_plan, name="billing_plan"),
    path(ws + "billing/card", billing_pages.billing_card, name="billing_card"),
    path(ws + "billing/card/remove", billing_pages.billing_card_remove, name="billing_card_remove"),
    path(ws + "billing/budget", billing_pages.billing_budget, name="billing_budget"),
    path(ws + "invoices/<str:invoice_id>.pdf", billing_pages.invoice_pdf, name="invoice_pdf"),
    path(ws + "audits", audit_pages.audits, name="audits"),
    path(ws + "audits/export.<str:format>", audit_pages.audits_export, name="audits_export"),
    path(ws + "audits/verify", audit_pages.audits_verify, name="audits_verify"),
    path(ws + "settings", pages.settings_page, name="settings"),
    path(ws + "settings/rename", pages.settings_rename, name="settings_rename"),
    path(ws + "settings/delete", pages.settings_delete, name="settings_delete"),
    path(ws + "settings/transfer", pages.settings_transfer, name="settings_transfer"),
    path(ws + "settings/leave", pages.settings_leave, name="settings_leave"),
]
