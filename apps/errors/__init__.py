"""Error tracking: Sentry SDKs send events to a project's DSN; Vigil groups them into issues.

What other apps may use:
- `apps.errors.dsn.dsn_for_bootstrap(project)`: a DSN for scripts (`manage.py bootstrap`).
- `apps.errors.dsn.dsns_for(project, base_url)`: the project's active DSNs (settings page).
- `apps.errors.asgi.sentry_fast_path`: the ASGI wrapper serving /api/<project_id>/envelope/ and /store/.
"""
