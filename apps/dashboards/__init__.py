"""Dashboards: the web pages, the live socket, the overview and org-home figures, the demo.

Public surface (what other apps may import; nothing else of this app):
  apps.dashboards.live      announce_batch(project_id, batch), announce(project_id, kind, payload),
                            announce_organization(org_id, notice), access_changed(...)
  apps.dashboards.counts    note_late_rows (ingestion notes late spans and points in our counts)
  apps.dashboards.summary   organization_glance (the org home's project cards)
  apps.dashboards.events    the live event shapes other apps announce (alerts' transitions)
"""
