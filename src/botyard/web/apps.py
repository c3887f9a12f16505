from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "botyard.web"
    label = "web"
