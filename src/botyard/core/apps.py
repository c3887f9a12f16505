from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "botyard.core"
    label = "core"
