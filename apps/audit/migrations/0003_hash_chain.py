"""Hash-chain the audit log (apps.audit.chain), including the events recorded before this.

The backfill has to write prev_hash / event_hash into existing rows, which the append-only trigger
refuses: the migration (run by the owner of the table) sets it aside for its own transaction only.
"""

from django.db import migrations, models

from apps.audit.chain import GENESIS, event_digest


def chain_existing_events(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    heads: dict[int | None, str] = {}
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        prev_hash = heads.get(event.organization_id, GENESIS)
        event_hash = event_digest(prev_hash, event)
        # The historical model's queryset has no append-only guard; the trigger is disabled below.
        AuditEvent.objects.filter(pk=event.pk).update(prev_hash=prev_hash, event_hash=event_hash)
        heads[event.organization_id] = event_hash


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]
    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="event_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.RunSQL(
            "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only",
            "ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only",
        ),
        migrations.RunPython(chain_existing_events, migrations.RunPython.noop),
        migrations.RunSQL(
            "ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only",
            "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only",
        ),
    ]
