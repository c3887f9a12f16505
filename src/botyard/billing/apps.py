from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "botyard.billing"
    label = "billing"
