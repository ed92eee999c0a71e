from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest

from apps.accounts import throttle
from apps.accounts.models import User
from apps.ops.middleware import client_ip


class SignupForm(forms.Form):
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    organization = forms.CharField(
        label="Organization name",
        max_length=100,
        required=True,
        help_text="Your team. You can invite the others next.",
    )

    def __init__(
        self, *args: Any, with_organization: bool = True, fixed_email: str | None = None, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        if not with_organization:
            del self.fields["organization"]
        if fixed_email is not None:
            self.fields["email"].initial = fixed_email
            self.fields["email"].disabled = True

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists. Sign in instead.")
        return email

    def clean_organization(self) -> str:
        name = self.cleaned_data["organization"].strip()
        if not name:
            raise forms.ValidationError("Give your organization a name.")
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password = cleaned.get("password")
        if password:
            try:
                password_validation.validate_password(password, User(email=cleaned.get("email", "")))
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class ThrottledAuthenticationForm(AuthenticationForm):
    """Email + password sign-in that refuses further attempts after repeated failures and slows
    down attempts on an account under attack (apps.accounts.throttle)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": "Too many failed sign-in attempts. Wait 15 minutes, or reset your password.",
        "slowed": (
            "Too many failed sign-in attempts on this account: try again in %(seconds)s seconds,"
            " or reset your password."
        ),
    }

    def __init__(self, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = "Email"
        self.fields["username"].widget.attrs["maxlength"] = 254
        self.login_burst = False  # this failure started an attack's backoff: tell the owner

    def clean(self) -> dict[str, Any]:
        email = str(self.data.get("username", "")) if self.data else ""
        ip = client_ip(self.request) if self.request is not None else None
        if throttle.is_throttled(ip, email):
            raise forms.ValidationError(self.error_messages["throttled"], code="throttled")
        known_device = throttle.is_known_device(self.request, email)
        wait = 0 if known_device else throttle.account_wait(email)
        if wait:
            raise forms.ValidationError(
                self.error_messages["slowed"], code="slowed", params={"seconds": wait}
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            self.login_burst = throttle.note_failure(ip, email, known_device)
            raise
        throttle.note_success(ip, email)
        return cleaned


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["name"]
