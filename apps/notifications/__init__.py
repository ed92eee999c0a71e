"""Notifications: channels (email, Slack, PagerDuty, signed webhooks), routes, grouping, and the
durable delivery of apps.alerts' transitions to them (see the design note in models.py).

What other apps may use:
- `apps.notifications.tasks.dispatch_transitions` / `send_deliveries` (beat, or after a commit).
- `apps.notifications.outbound.check_url` to vet a URL the way channels are vetted.
Nothing here writes to apps.alerts except through its services (acknowledging from a signed link).
"""
