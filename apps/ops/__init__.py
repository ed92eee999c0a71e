"""Ops: running the service — health and readiness, self metrics, structured logs, request ids,
the error pages.

Public surface (what other apps may import; nothing else of this app):
  apps.ops.middleware       client_ip, current_request_id, request_id_for, bound_request_id
  apps.ops.metrics          record_request (transports outside Django record their requests)
  apps.ops.admin_base       ServiceAdmin, ServiceFormAdmin, HistoryAdmin, ServiceRefused, adopt
                            (every app's admin pages: writes through its services, history read-only)
"""
