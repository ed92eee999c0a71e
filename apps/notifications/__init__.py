"""Notifications: channels (email, Slack, PagerDuty, signed webhooks), routes, grouping, and the
durable delivery of apps.alerts' transitions to them (see the design note in models.py).

What other apps may use:
- `apps.notifications.tasks.dispatch_transitions` / `send_deliveries` (beat, or after a commit).
- `apps.notifications.outbound.check_url` to vet a URL the way channels are vetted.
- `apps.notifications.selectors.reachable_channels(project)`: empty means its alerts reach nobody
  (the Alerts tab says so); `channels_with_warnings(organization_id)`.
Nothing here writes to apps.alerts except through its services (acknowledging from a signed link).
"""
