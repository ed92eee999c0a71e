"""Billing: plans, subscriptions, the usage meter, quotas and plan limits.

What other apps may call:
- `apps.billing.quota.admit(org_id, project_id, signal, n, drops, key_id)` / `count_refused(...)` /
  `release(...)` / `headers_for(org_id)`: ingestion's one Redis call per request (rate limit, quota,
  metering) and the quota headers of its answers (apps.ingestion.services.store uses them);
- `apps.billing.retention`: each project's retention from its plan, and the partition drops;
- `apps.billing.limits.check_seat_limit / check_project_limit / check_api_key_limit /
  check_policy_limit(project, existing)`: raise `LimitReached` naming the limit and the plan;
- `apps.billing.services.subscription_start / subscription_change / plan_create` (audited).
"""
