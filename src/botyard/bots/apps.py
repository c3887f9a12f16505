from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "botyard.bots"
    label = "bots"
