from django.apps import AppConfig
from django.core import checks


class MessagingConfig(AppConfig):
    name = "botyard.messaging"
    label = "messaging"

    def ready(self) -> None:
        from botyard.messaging.checks import sqlite_supports_returning

        checks.register(sqlite_supports_returning)
