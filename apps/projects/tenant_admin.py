"""Tenant-scoped admin site at /manage/ (placeholder; filled in by the admin work)."""

from django.contrib.admin import AdminSite

tenant_admin_site = AdminSite(name="manage")
