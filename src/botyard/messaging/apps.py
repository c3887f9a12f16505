from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "botyard.messaging"
    label = "messaging"
