"""Billing providers: who turns statements into money. One module per provider; the one shipped
is `invoice` (statements only, paid by bank transfer against an invoice, no card). A Stripe
adapter is one new module implementing `Provider` and one entry in PROVIDERS.

The interface, and who calls it:
- `create_customer(organization)` when an organization first needs a provider-side identity;
- `change_subscription(subscription)` after apps.billing.services.subscription_change;
- `report_usage(statement, idempotency_key)` when a period's statement is closed (the key makes a
  retried report a no-op at the provider);
- `verify_webhook(body, headers)` / `apply_webhook(event)` for POST /api/v1/billing/webhook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings

if TYPE_CHECKING:
    from apps.billing.models import Statement, Subscription
    from apps.projects.models import Organization


class InvalidWebhook(Exception):
    """The webhook's signature or body does not check out; it is refused and nothing changes."""


class Provider(Protocol):
    name: str

    def create_customer(self, organization: Organization) -> str: ...

    def change_subscription(self, subscription: Subscription) -> None: ...

    def report_usage(self, statement: Statement, idempotency_key: str) -> None: ...

    def verify_webhook(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]: ...

    def apply_webhook(self, event: dict[str, Any]) -> str: ...


def get() -> Provider:
    from apps.billing.providers.invoice import InvoiceProvider

    providers: dict[str, type[Provider]] = {"invoice": InvoiceProvider}
    name = settings.BILLING_PROVIDER
    if name not in providers:
        raise LookupError(f"BILLING_PROVIDER names no provider: {name!r} (known: {', '.join(providers)})")
    return providers[name]()
