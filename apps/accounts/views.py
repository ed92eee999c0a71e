"""Sign-up, sign-in, invitation acceptance and the profile page. Plain function views."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_http_methods

from apps import audit
from apps.accounts.forms import ProfileForm, SignupForm, ThrottledAuthenticationForm
from apps.accounts.services import user_signup
from apps.projects.services import ActionRefused, invitation_accept, invitation_for_token


@login_not_required
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("projects:home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user, organization = user_signup(
                form.cleaned_data["email"],
                form.cleaned_data["password"],
                form.cleaned_data["organization"],
                request,
            )
        except ActionRefused as refused:
            form.add_error("email", str(refused))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request, f"Welcome to Vigil. {organization} is ready: create your first project."
            )
            return redirect("projects:organization", organization_id=organization.pk)  # type: ignore[union-attr]
    return render(request, "accounts/signup.html", {"form": form})


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password-reset-complete")
    post_reset_login = False

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        audit.record("user.password_reset", request=self.request, actor=form.user, target=form.user)
        return response


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = ThrottledAuthenticationForm
    redirect_authenticated_user = True


@login_not_required
@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Accept an invitation: signed in with the invited address → join; otherwise sign up or sign in."""
    pending = invitation_for_token(token)
    if pending is None or not pending.is_open:
        reason = "already been used" if pending and pending.accepted_at else "expired or is not valid"
        return render(
            request, "accounts/invitation_invalid.html", {"reason": reason}, status=410 if pending else 404
        )
    if request.user.is_authenticated:
        if request.method == "POST":
            try:
                membership = invitation_accept(token, request.user, request)  # type: ignore[arg-type]
            except ActionRefused as refused:
                messages.error(request, str(refused))
                return redirect("accounts:invitation-accept", token=token)
            messages.success(request, f"You joined {membership.organization} as {membership.role}.")
            return redirect("projects:organization", organization_id=membership.organization_id)
        return render(request, "accounts/invitation.html", {"invitation": pending})
    form = SignupForm(request.POST or None, with_organization=False, fixed_email=pending.email)
    if request.method == "POST" and form.is_valid():
        try:
            user, _ = user_signup(pending.email, form.cleaned_data["password"], None, request)
            membership = invitation_accept(token, user, request)
        except ActionRefused as refused:
            form.add_error(None, str(refused))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome! You joined {membership.organization} as {membership.role}.")
            return redirect("projects:organization", organization_id=membership.organization_id)
    login_url = f"{reverse('accounts:login')}?next={request.path}"
    return render(
        request, "accounts/invitation.html", {"invitation": pending, "form": form, "login_url": login_url}
    )


@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Profile saved.")
        return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form})
