"""`manage.py audit verify [--org ID]`: check the audit log's hash chains (apps.audit.chain).

Exit status 0 when every chain is intact, 1 at the first broken link, which is printed. The head
hash of each chain verified is printed too: keep it somewhere the database's superuser cannot
write, and a later run proves nothing before it was rewritten or removed since.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.chain import verify_chains
from apps.audit.models import AuditEvent


class Command(BaseCommand):
    help = "Audit log tools. verify: check that no event was changed, removed or inserted."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        verify = commands.add_parser("verify", help="walk the hash chains; report the first broken link")
        verify.add_argument("--org", type=int, help="only this organization's chain")

    def handle(self, *args: Any, **options: Any) -> None:
        events = AuditEvent.objects.order_by("organization_id", "id")
        if options["org"] is not None:
            events = events.filter(organization_id=options["org"])
        report = verify_chains(events.iterator(chunk_size=2000))
        if report.first_break is not None:
            self.stderr.write(f"audit log BROKEN at {report.first_break}")
            raise CommandError(f"audit chain broken at event #{report.first_break.event_id}", returncode=1)
        self.stdout.write(f"audit log intact: {report.events} events in {report.chains} chains")
        for organization_id, head in report.heads.items():
            self.stdout.write(f"  head of {organization_id or 'no organization'}: {head}")
