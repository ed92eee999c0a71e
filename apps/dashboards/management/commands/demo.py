"""`manage.py demo [--project ID | --org ID] [--hours H] [--stop]`: a living demo project (DESIGN.md §2)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.dashboards import demo, live
from apps.projects.models import Organization, Project


class Command(BaseCommand):
    help = (
        "Fill a project with a few hours of realistic logs, metrics and traces (through the ingestion "
        "path) and keep a trickle coming while the Celery worker and beat run. Without --project, "
        "uses (or creates) the project 'Demo' of --org or of the first organization."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group()
        target.add_argument("--project", type=int, help="id of the project to fill")
        target.add_argument("--org", type=int, help="id of the organization whose 'Demo' project to fill")
        parser.add_argument("--hours", type=float, default=demo.DEFAULT_HOURS, help="history to backfill")
        parser.add_argument("--stop", action="store_true", help="clear the demo flag: the trickle stops")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 < options["hours"] <= 24 * 7:
            raise CommandError("--hours must be more than 0 and at most 168.")
        project = self._project(options["project"], options["org"])
        if options["stop"]:
            stopped = demo.stop(project)
            self.stdout.write(
                f"{project.name} (#{project.pk}): " + ("trickle stopped." if stopped else "no demo.")
            )
            return
        self.stdout.write(f"Filling {project.name} (#{project.pk}) in {project.organization.name}…")
        started = time.monotonic()
        written = demo.fill(project, hours=options["hours"])
        live.drain()  # announcements leave from a background thread: let them go before exiting
        self.stdout.write(
            f"Wrote {written.logs:,} logs, {written.spans:,} spans and {written.points:,} metric points "
            f"covering {_duration(written.covered.total_seconds())} in {time.monotonic() - started:.1f} s."
            if written.total
            else "Already filled up to now: nothing to backfill."
        )
        page = f"/projects/{project.pk}/"
        # The running stack's own address (var/stack.env or VIGIL_URL), never a guessed :8000.
        link = (
            f"Open {settings.VIGIL_URL}{page}" if settings.VIGIL_URL else f"Open {page} on your Vigil server."
        )
        self.stdout.write(
            "A trickle keeps coming every few seconds while `make run` (Celery worker and beat) is up; it "
            "stops after a day without a page view, or now with "
            f"`manage.py demo --project {project.pk} --stop`.\n" + link
        )

    def _project(self, project_id: int | None, organization_id: int | None) -> Project:
        if project_id is not None:
            project = Project.objects.select_related("organization").filter(pk=project_id).first()
            if project is None:
                raise CommandError(f"No project #{project_id}. {_existing_projects()}")
            return project
        organizations = Organization.objects.order_by("pk")
        organization = (
            organizations.filter(pk=organization_id).first() if organization_id else organizations.first()
        )
        if organization is None:
            raise CommandError(
                f"No organization #{organization_id}."
                if organization_id
                else "No organization yet: sign up at /signup/ or run `manage.py bootstrap` first."
            )
        return demo.demo_project(organization)


def _existing_projects(shown: int = 20) -> str:
    projects = list(Project.objects.select_related("organization").order_by("pk")[: shown + 1])
    if not projects:
        return "There are no projects yet: run `manage.py bootstrap` or `manage.py demo` without --project."
    listed = ", ".join(f"#{p.pk} {p.name} ({p.organization.name})" for p in projects[:shown])
    return f"Projects: {listed}" + (", …" if len(projects) > shown else "") + "."


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
