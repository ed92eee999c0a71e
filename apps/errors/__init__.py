"""Error tracking: Sentry SDKs send events to a project's DSN; Vigil groups them into issues.

Public surface (what other apps may import; nothing else of this app):
  apps.errors.dsn    dsn_for_bootstrap(project_id) for `manage.py bootstrap`; dsns_for(project, base)
  apps.errors.asgi   sentry_fast_path, the ASGI wrapper serving /api/<project_id>/envelope|store/
  apps.errors.selectors  issue_event_counts, issues_changed, issue_brief (apps.alerts' error kinds),
                         sdk_discards, sdk_discards_of_organization (what SDKs dropped: the
                         Issues tab, billing's usage page)
  apps.errors.sessions   crash_free (crash-free sessions per release)
  apps.errors.signals    issues_changed, sent after a grouping batch made, regressed or
                         unignored an issue (apps.alerts evaluates issue alerts at once)
"""
