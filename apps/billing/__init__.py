"""Billing: plans (today the environment's defaults), quota checks and retention policy.

Public surface (what other apps may import; nothing else of this app):
  apps.billing.quota        check(project_id, n_events)
  apps.billing.retention    for_project, longest, log_cutoffs, cutoff (what reads may serve);
                            drop_expired_partitions (calls each table owner's drop)
"""
