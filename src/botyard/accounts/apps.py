from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "botyard.accounts"
    label = "accounts"
