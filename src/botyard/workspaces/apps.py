from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "botyard.workspaces"
    label = "workspaces"
