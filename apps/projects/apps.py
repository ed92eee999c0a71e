from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "apps.projects"
    label = "projects"

    def ready(self) -> None:
        from apps.projects import schema  # noqa: F401  (registers the OpenAPI auth extension)
