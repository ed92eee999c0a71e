"""Seed the three plans and give every existing organization a subscription on `free`.

Limits (documented in the README, "Plans and quotas"); empty = no limit, retention empty = the
deployment default (RETENTION_* settings: debug 3, info 14, warn 30, spans 14, points 7 days):
| plan     | events/month | overage  | seats | projects | keys/project | policies/project | retention (debug/info/warn/span/point days) |
| free     | 1,000,000    | block    | 5     | 5        | 10           | 10               | defaults                                    |
| team     | 50,000,000   | throttle | 25    | 25       | 50           | 100              | 7/30/90/30/30                               |
| business | 500,000,000  | allow    | —     | —        | —            | —                | 14/90/400/90/90                             |
"""

from django.db import migrations

from apps.billing.seed import PLANS


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    Subscription = apps.get_model("billing", "Subscription")
    Organization = apps.get_model("projects", "Organization")
    for fields in PLANS:
        Plan.objects.update_or_create(slug=fields["slug"], defaults=fields)
    free = Plan.objects.get(slug="free")
    Subscription.objects.bulk_create(
        [
            Subscription(organization_id=org_id, plan=free)
            for org_id in Organization.objects.filter(subscription__isnull=True).values_list("pk", flat=True)
        ]
    )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial"), ("projects", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
