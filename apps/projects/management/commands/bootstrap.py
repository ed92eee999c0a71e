"""`manage.py bootstrap --email E --password P --org ORG --project PROJ --json` (DESIGN.md §2)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import User
from apps.errors.dsn import dsn_for_bootstrap
from apps.projects.services import bootstrap


class Command(BaseCommand):
    help = "Create (idempotently) a user, an organization they own, a project, and an ingest and a read key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--org", required=True, help="organization name")
        parser.add_argument("--project", required=True, help="project name")
        parser.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["email"].strip().lower()
        existing = User.objects.filter(email__iexact=email).first()
        if existing is None:
            try:
                password_validation.validate_password(options["password"], User(email=email))
            except ValidationError as error:
                raise CommandError("; ".join(error.messages)) from None
        elif not existing.check_password(options["password"]):
            raise CommandError(f"{email} exists and the password does not match.")
        result = bootstrap(email, options["password"], options["org"].strip(), options["project"].strip())
        result["dsn"] = dsn_for_bootstrap(result["project_id"])  # for Sentry SDKs (apps.errors)
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        for name, value in result.items():
            self.stdout.write(f"{name:>11}: {value}")
