"""Projects: organizations, memberships and roles, projects, API keys, invitations; tenancy.

Public surface (what other apps may import; nothing else of this app):
  apps.projects.models          Organization, Membership, Role, Project, ApiKey, KeyScope
  apps.projects.scoping         get_project_for, get_organization_for, Access (404 for other tenants)
  apps.projects.authentication  authenticate_key, key_from_headers, key_from_values, KeyIdentity,
                                KeyCache (+ invalidate_keys: a process-local key cache, revoked at once),
                                KEY_EPOCH, authenticate_key_deferred + epoch_moved (the revocation
                                check folded into a caller's own Redis round trip: ingestion's admission)
  apps.projects.services        ActionRefused, organization_with_owner, invitation_for_token,
                                invitation_accept, key_revoke_once (writes take by=apps.audit.Actor)
  apps.projects.tenant_admin    tenant_admin_site, TenantScopedAdmin
  apps.projects.admin           ServiceBackedAdmin (admin pages whose writes go through services)
"""
