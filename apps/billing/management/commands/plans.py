"""`manage.py plans list | create SLUG ... | set --org ORG_ID --plan SLUG`: plans for operators."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.billing import services
from apps.billing.models import Overage, Plan
from apps.projects.models import Organization


def _limit(value: str) -> int | None:
    """A non-negative number, or `none` / `unlimited` for no limit."""
    if value.lower() in ("none", "unlimited"):
        return None
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "List and create plans; move an organization to a plan."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="Every plan with its limits and how many organizations use it.")
        create = sub.add_parser("create", help="Create a plan.")
        create.add_argument("slug")
        create.add_argument("--name", default="")
        create.add_argument("--events-per-month", type=int, required=True)
        create.add_argument(
            "--retention-days", type=int, help="Warn+ logs, spans and points; debug/info stay shorter"
        )
        create.add_argument("--seats", type=_limit)
        create.add_argument("--projects", type=_limit)
        create.add_argument("--api-keys-per-project", type=_limit)
        create.add_argument("--alert-policies-per-project", type=_limit)
        create.add_argument("--overage", choices=Overage.values, default=Overage.BLOCK)
        create.add_argument("--overage-cap", type=_limit)
        assign = sub.add_parser("set", help="Move an organization to a plan.")
        assign.add_argument("--org", type=int, required=True, dest="org_id")
        assign.add_argument("--plan", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _list(self, options: dict[str, Any]) -> None:
        for plan in Plan.objects.all():
            users = plan.subscriptions.count()
            limits = " ".join(f"{k}={'∞' if v is None else v}" for k, v in plan.limits().items())
            self.stdout.write(f"{plan.slug}\t{plan.name}\t{limits}\torganizations={users}")

    def _create(self, options: dict[str, Any]) -> None:
        if options["events_per_month"] < 0:
            raise CommandError("--events-per-month must be 0 or more.")
        days = options["retention_days"]
        retention = {}
        if days is not None:
            if days < 1:
                raise CommandError("--retention-days must be at least 1.")
            # One number sets the longest-kept classes; debug and info keep their usual shorter share.
            retention = {
                "retention_warn_days": days,
                "retention_span_days": days,
                "retention_point_days": days,
                "retention_info_days": max(1, days // 2),
                "retention_debug_days": max(1, days // 10),
                "retention_rollup_1m_days": days,
                "retention_rollup_1h_days": max(days, 400),
            }
        try:
            plan = services.plan_create(
                options["slug"],
                options["name"],
                events_per_month=options["events_per_month"],
                overage=options["overage"],
                overage_cap=options["overage_cap"],
                seats=options["seats"],
                projects=options["projects"],
                api_keys_per_project=options["api_keys_per_project"],
                alert_policies_per_project=options["alert_policies_per_project"],
                **retention,
            )
        except services.PlanError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"created plan {plan.slug}")

    def _set(self, options: dict[str, Any]) -> None:
        organization = Organization.objects.filter(pk=options["org_id"]).first()
        if organization is None:
            raise CommandError(f"No organization with id {options['org_id']}.")
        plan = Plan.objects.filter(slug=options["plan"]).first()
        if plan is None:
            raise CommandError(f"No plan “{options['plan']}”; see `manage.py plans list`.")
        services.subscription_change(organization, plan, via="manage.py plans set")
        self.stdout.write(f"{organization.name} (id {organization.pk}) is now on {plan.slug}")
