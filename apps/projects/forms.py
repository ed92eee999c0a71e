from __future__ import annotations

from typing import Any

from django import forms

from apps.projects.models import KeyScope, Role


class NameForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off"}))

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("A name is required.")
        return name


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, required=False, help_text="What uses this key, e.g. “checkout service”."
    )
    scope = forms.ChoiceField(choices=KeyScope.choices, initial=KeyScope.INGEST)


class InvitationForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args: Any, assignable: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if assignable is not None:
            self.fields["role"].choices = [  # type: ignore[attr-defined]
                (value, label) for value, label in Role.choices if value in assignable
            ]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ConfirmNameForm(forms.Form):
    """Destructive actions ask for the object's name, typed out."""

    confirm = forms.CharField(max_length=100, label="Type the name to confirm")

    def __init__(self, *args: Any, expected: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expected = expected

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"].strip()
        if value != self.expected:
            raise forms.ValidationError(f"Type “{self.expected}” exactly to confirm.")
        return value


class MembershipChoiceForm(forms.Form):
    membership = forms.TypedChoiceField(coerce=int, label="New owner")

    def __init__(self, *args: Any, choices: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["membership"].choices = choices  # type: ignore[attr-defined]
