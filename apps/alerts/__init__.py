"""Alerts: policies, their evaluation, alert instances, incidents and heartbeats.

What other apps may use:
- `apps.alerts.models.Transition`: the outbox of notifications. One immutable row per state change
  of an alert instance, committed in the same transaction as the state. A notifier reads rows with
  `notify=True AND notified_at IS NULL` in id order, claims them (`SELECT ... FOR UPDATE SKIP LOCKED`)
  and stamps `notified_at`; rows with `notify=False` were held back while their instance flapped.
- `apps.alerts.services.incident_acknowledge` / `incident_resolve` (one-click links of notices).
- `apps.alerts.selectors` for read-only views of policies, instances and incidents.

Public surface (what other apps may import; nothing else of this app):
  apps.alerts.models        Transition (the outbox), Policy, AlertInstance, Incident, Heartbeat,
                            PingKind, ScheduleKind
  apps.alerts.services      incident_acknowledge, incident_resolve, policy_create,
                            heartbeat_ping_slug (a ping for monitor slug X: Sentry cron check-ins)
  apps.alerts.specs         SpecError (what heartbeat_ping_slug raises for a bad schedule)
  apps.alerts.selectors     alert_summaries and read-only views
  apps.alerts.rulepack      rule_pack_add (every new project starts watched)
  apps.alerts.scheduler     evaluator_lag (/health/ready)
  apps.alerts.incidents     incident_acknowledge, IncidentClosed (one-click links of notices)
  apps.alerts.error_kinds   issue_context (a notice's issue: top frames and link)
  apps.alerts.durations     parse_duration (the "5m" durations of policies and routes)
  apps.alerts.signals       outbox_written (transitions to notify of have committed)
"""
