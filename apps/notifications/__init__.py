"""Notifications: channels (email, Slack, PagerDuty, signed webhooks), routes, grouping, silences,
maintenance windows, and the durable delivery of apps.alerts' transitions (design note in models.py).

Reads apps.alerts' Transition rows as its outbox (claimed with SKIP LOCKED, stamped notified in
the transaction that files them); writes to apps.alerts only through its services
(acknowledging from a signed link).

Public surface (what other apps may import; nothing else of this app):
  apps.notifications.tasks      dispatch_transitions, send_deliveries (beat, or after a commit)
  apps.notifications.selectors  reachable_channels(project) (empty: its alerts reach nobody),
                                channels_with_warnings(organization_id), quiet_reasons(project, now)
                                (what is silenced / inhibited now), failed_deliveries(project)
  apps.notifications.outbound   check_url, post (the one SSRF-guarded way out over HTTP)
  apps.notifications.events     organization_event_enqueue (another app's event, e.g. billing's
                                usage.threshold, to the organization's webhook channels)
  apps.notifications.templatetags.notifications  {% notification_status project %} (Alerts tab)
"""
