"""The `invoice` provider: no card network. A closed statement is the invoice (downloadable as CSV
from the usage page); the operator's accounting marks it paid by sending a signed webhook
(Standard Webhooks, secret BILLING_WEBHOOK_SECRET), the same way a card provider would."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from apps import audit
from apps.billing.models import Plan, Statement, Subscription
from apps.billing.providers import InvalidWebhook
from apps.projects.models import Organization


class InvoiceProvider:
    name = "invoice"

    def create_customer(self, organization: Organization) -> str:
        return f"org_{organization.pk}"  # invoices are addressed to the organization itself

    def change_subscription(self, subscription: Subscription) -> None:
        return None  # the next statement carries the new plan; nothing to tell anyone

    def report_usage(self, statement: Statement, idempotency_key: str) -> None:
        # Idempotent: a statement reported once keeps its first key and time.
        Statement.objects.filter(pk=statement.pk, reported_at__isnull=True).update(
            reported_at=timezone.now(), provider_ref=idempotency_key
        )

    def verify_webhook(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        secret = settings.BILLING_WEBHOOK_SECRET
        if not secret:
            raise InvalidWebhook("Provider webhooks are not configured (BILLING_WEBHOOK_SECRET).")
        try:
            event = Webhook(secret).verify(body, headers)
        except WebhookVerificationError as exc:
            raise InvalidWebhook(f"Bad webhook signature: {exc}") from None
        except ValueError:  # signed, but not JSON
            raise InvalidWebhook("A webhook body is a JSON object with a `type`.") from None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise InvalidWebhook("A webhook body is a JSON object with a `type`.")
        return event

    def apply_webhook(self, event: dict[str, Any]) -> str:
        """`statement.paid` {organization_id, period} or `subscription.changed` {organization_id,
        plan}; returns what was done. Applying the same event twice changes nothing more."""
        raw = event.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        kind = event["type"]
        organization_id = data.get("organization_id", 0)
        if not isinstance(organization_id, int):
            raise InvalidWebhook("`data.organization_id` must be a number.")
        if kind == "statement.paid":
            with transaction.atomic():
                updated = Statement.objects.filter(
                    organization_id=organization_id,
                    period=str(data.get("period")),
                    paid_at__isnull=True,
                ).update(paid_at=timezone.now())
            return "statement marked paid" if updated else "nothing to do"
        if kind == "subscription.changed":
            from apps.billing.services import subscription_change

            organization = Organization.objects.filter(pk=organization_id).first()
            plan = Plan.objects.filter(slug=data.get("plan")).first()
            if organization is None or plan is None:
                raise InvalidWebhook("Unknown organization or plan.")
            subscription_change(organization, plan, via="provider webhook")
            return f"organization moved to {plan.slug}"
        audit.record("billing.webhook_ignored", extra={"type": kind[:100]})
        return "event type ignored"
