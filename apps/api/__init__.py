"""Web plumbing shared by every app's JSON API; no models, no app of its own.

A neutral package rather than apps/ops (which runs the service: health, self metrics, logging,
middleware) or apps/projects (which owns tenancy): every API imports these, and none of them
should have to import a domain app to get them.

Public surface:
  apps.api.views                ApiView, the base class of every DRF API view
  apps.api.errors               error_body, json_error, error_response, api_exception_handler (DRF's
                                EXCEPTION_HANDLER) and what code raises instead of building a
                                response: BadParameter, BadRequest, InvalidInput, Conflict, ApiError
  apps.api.timerange            TimeRange, parse_range, parse_time, DEFAULT_RANGE, MAX_RANGE
"""
