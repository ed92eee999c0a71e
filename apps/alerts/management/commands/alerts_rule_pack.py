"""Add the default alert rules to existing projects: `manage.py alerts_rule_pack --all` or
`--project ID ...`. Rules a project already has (by name) are left alone; a project whose plan
has no room for the missing rules gets none of them (and the reason on stderr)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.alerts.rulepack import rule_pack_add
from apps.billing.limits import LimitReached
from apps.projects.models import Project


class Command(BaseCommand):
    help = "Add the default alert rule pack to projects that lack some of its rules."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--project", type=int, action="append", default=[], help="A project id (repeatable)."
        )
        parser.add_argument("--all", action="store_true", help="Every project.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["all"] and not options["project"]:
            raise CommandError("Name projects with --project ID, or use --all.")
        projects = Project.objects.select_related("organization").order_by("id")
        if not options["all"]:
            projects = projects.filter(pk__in=options["project"])
            missing = set(options["project"]) - set(projects.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No project with id {', '.join(map(str, sorted(missing)))}.")
        for project in projects:
            try:
                added = rule_pack_add(project)
            except LimitReached as reached:  # the pack goes in whole or not at all
                self.stderr.write(f"project {project.pk} ({project.name}): nothing added. {reached}")
                continue
            self.stdout.write(f"project {project.pk} ({project.name}): {len(added)} rule(s) added")
