"""The free plan's alert policies per project go from 10 to 25: the default rule pack every new
project gets (apps/alerts/rulepack.py, 10 policies) counts toward the limit, and a free project
must still have room for its own rules. A value an operator changed is left as it is."""

from django.db import migrations


def raise_free_limit(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    Plan.objects.filter(slug="free", alert_policies_per_project=10).update(alert_policies_per_project=25)


def lower_free_limit(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    Plan.objects.filter(slug="free", alert_policies_per_project=25).update(alert_policies_per_project=10)


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_statements")]

    operations = [migrations.RunPython(raise_free_limit, lower_free_limit)]
