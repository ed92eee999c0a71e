"""The channel form of the org's Channels page: one "send to" field read according to the kind."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.notifications.models import ChannelKind
from apps.projects.models import Role


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=ChannelKind.choices)
    target = forms.CharField(
        label="Send to",
        max_length=2000,
        help_text="Email: addresses separated by commas, or a role (viewer, member, admin, owner) —"
        " Slack: the incoming-webhook URL — PagerDuty: the integration (routing) key — Webhook: the URL.",
    )
    is_default = forms.BooleanField(
        required=False, label="Default channel", help_text="Receives the alerts that no route matches."
    )

    def config(self) -> dict[str, Any]:
        kind, target = self.cleaned_data["kind"], self.cleaned_data["target"].strip()
        if kind == ChannelKind.EMAIL:
            if target in Role.values:
                return {"role": target}
            return {"addresses": [a.strip() for a in target.split(",") if a.strip()]}
        if kind == ChannelKind.PAGERDUTY:
            return {"routing_key": target}
        return {"url": target}
