"""Bases of admin pages, for every app's admin (staff /admin/ and tenant /manage/ alike).

Design note. Admin pages never write rows themselves: every create, update and delete goes
through the owning app's service, so the rules it checks and the audit event it records are the
same as from the API and the UI. Django's admin would otherwise save from the form (`save_model`),
delete (`delete_model`) and bulk-delete ("delete selected", `delete_queryset`) on its own; the
bases here route all three through the app's services and turn a service's refusal
(`ServiceRefused`) into an error message and a redirect, never a 500.

  ServiceAdmin      refusals as messages, bulk deletes one by one through `delete_model`
  ServiceFormAdmin  + a form saved through the app's `<thing>_create(owner, values, user)` and
                    `<thing>_update(stored, changed_fields, user)` services
  HistoryAdmin      rows that are history: shown, never added or edited
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse


class ServiceRefused(Exception):
    """A service said no; the admin shows `str(self)` as an error message."""


def adopt(obj: models.Model, saved: models.Model) -> None:
    """Give the admin's unsaved instance the identity of the row a service created.

    The admin keeps using the instance it built from the form (for its log entry and the
    redirect after "save"), so it has to become that row.
    """
    obj.__dict__.update(saved.__dict__)


class ServiceAdmin(admin.ModelAdmin):
    """Turns service refusals into messages and makes bulk deletes go through `delete_model`."""

    # Models whose rows may go with a deleted object although this site lets nobody delete
    # them on their own (API keys are revoked, not deleted, but disappear with their project).
    cascades_without_permission: ClassVar[tuple[type[models.Model], ...]] = ()

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceRefused as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            opts = self.opts
            return HttpResponseRedirect(
                reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_change",
                    args=[object_id],
                    current_app=self.admin_site.name,
                )
            )

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any
    ) -> HttpResponse | None:
        # All or nothing: a refusal in the middle of a bulk action undoes the ones before it.
        try:
            with transaction.atomic():
                return super().response_action(request, queryset, *args, **kwargs)
        except ServiceRefused as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # One by one through delete_model, so that each deletion is checked and audited.
        for obj in queryset:
            self.delete_model(request, obj)

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        allowed = {str(model._meta.verbose_name) for model in self.cascades_without_permission}
        return deleted, counts, {name for name in perms_needed if str(name) not in allowed}, protected


class ServiceFormAdmin(ServiceAdmin):
    """A form saved through the app's services: a new row by `create(owner, values, user)` from
    `create_fields` (the owner is `values[owner_field]`), a change by `update(stored, fields, user)`
    with only the fields the form changed, applied to the row as stored (loaded with
    `stored_related`) so the service's before/after audit is of the database, not of the form."""

    create_fields: ClassVar[tuple[str, ...]] = ()
    owner_field: ClassVar[str] = ""
    stored_related: ClassVar[tuple[str, ...]] = ()

    def create(self, owner: Any, values: dict[str, Any], user: Any) -> models.Model:
        raise NotImplementedError

    def update(self, stored: Any, fields: dict[str, Any], user: Any) -> models.Model:
        raise NotImplementedError

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool) -> None:
        cleaned = form.cleaned_data
        if change:
            fields = {name: cleaned[name] for name in form.changed_data if name in cleaned}
            stored = type(obj)._default_manager.select_related(*self.stored_related).get(pk=obj.pk)
            adopt(obj, self.update(stored, fields, request.user))
        else:
            values = {name: cleaned[name] for name in self.create_fields if name in cleaned}
            owner = values.pop(self.owner_field)
            adopt(obj, self.create(owner, values, request.user))


class HistoryAdmin(admin.ModelAdmin):
    """Rows that record what happened: shown, never added or edited here."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
