from django.apps import AppConfig


class ErrorsConfig(AppConfig):
    name = "apps.errors"
    label = "errors"
