"""Billing: plans, subscriptions, the usage meter, quotas, plan limits, statements and providers.

Public surface (what other apps may import; nothing else of this app):
  apps.billing.quota        admit, count_refused, release, headers_for: ingestion's one Redis call
                            per request (rate limit, quota, metering) and its answers' quota headers;
                            admit_many([AdmitRequest, ...]) -> [Admission, ...]: `admit` for a
                            group-commit batch of requests in one Redis call, each decided and
                            counted as if admitted alone; both take `watch=(key, expected)`: a
                            Redis key compared first in the same call (WatchMoved: it moved,
                            nothing admitted or counted);
                            admit_records(project_id, signal, n, drops) -> Admission: check + meter
                            n records of any signal (e.g. apps.errors' "errors", "transactions")
                            in one Redis call — rate limit excepted; its docstring says what the
                            caller must do (keep, release, count_in_transaction when unmetered);
                            check(project_id, n_events) -> QuotaDecision: a read-only yes/no by the
                            plan's overage rule (counts nothing), ALLOWED
  apps.billing.usage        count_in_transaction (the write-path count while Redis is down)
  apps.billing.models       Outcome (accepted, or why a record was dropped)
  apps.billing.retention    for_project, longest, log_cutoffs, cutoff (what reads may serve);
                            drop_expired_partitions (calls each table owner's drop)
  apps.billing.limits       check_seat_limit, check_project_limit, check_api_key_limit,
                            check_policy_limit(project, existing): raise LimitReached naming the
                            limit and the plan (alerts must call check_policy_limit)
  apps.billing.services     subscription_start, subscription_change, plan_create (audited)
"""
