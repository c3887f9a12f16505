from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "botyard.audit"
    label = "audit"
