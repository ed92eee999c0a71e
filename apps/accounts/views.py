"""Sign-up, sign-in, invitation acceptance and the profile page. Plain function views."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_http_methods

from apps import audit
from apps.accounts import throttle
from apps.accounts.forms import ProfileForm, SignupForm, ThrottledAuthenticationForm
from apps.accounts.models import User
from apps.accounts.services import login_burst_notify, password_change, user_signup
from apps.audit import Actor
from apps.ops.middleware import client_ip
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
                by=Actor.from_request(request),
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

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        # This browser is now known for this account: an attack elsewhere never slows it down.
        response.set_cookie(
            throttle.DEVICE_COOKIE,
            throttle.device_token(form.get_user().email),
            max_age=throttle.DEVICE_COOKIE_MAX_AGE,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
        return response

    def form_invalid(self, form: Any) -> HttpResponse:
        if form.login_burst:
            login_burst_notify(str(form.data.get("username", "")), self.request)
        return super().form_invalid(form)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request, limited per IP and per address (apps.accounts.throttle): unlimited,
    it let anyone flood a mailbox with reset emails from our domain."""

    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password-reset-done")

    def form_valid(self, form: Any) -> HttpResponse:
        if not throttle.password_reset_allowed(client_ip(self.request), form.cleaned_data["email"]):
            form.add_error(
                None, "Too many reset requests: check your inbox (and spam folder), or try again in an hour."
            )
            response = self.form_invalid(form)
            response.status_code = 429
            response["Retry-After"] = "3600"
            return response
        return super().form_valid(form)


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
                membership = invitation_accept(token, request.user, by=Actor.from_request(request))  # type: ignore[arg-type]
            except ActionRefused as refused:
                messages.error(request, str(refused))
                return redirect("accounts:invitation-accept", token=token)
            messages.success(request, f"You joined {membership.organization} as {membership.role}.")
            return redirect("projects:organization", organization_id=membership.organization_id)
        return render(request, "accounts/invitation.html", {"invitation": pending})
    form = SignupForm(request.POST or None, with_organization=False, fixed_email=pending.email)
    if request.method == "POST" and form.is_valid():
        try:
            user, _ = user_signup(
                pending.email, form.cleaned_data["password"], None, by=Actor.from_request(request)
            )
            membership = invitation_accept(token, user, by=Actor.from_request(request))
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
    user = cast(User, request.user)  # login required (middleware)
    form = ProfileForm(request.POST or None, instance=user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Profile saved.")
        return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form, "password_form": PasswordChangeForm(user)})


@require_http_methods(["POST"])
def profile_password(request: HttpRequest) -> HttpResponse:
    """Any signed-in user changes their own password: the current one, then the new one twice."""
    user = cast(User, request.user)  # login required (middleware)
    password_form = PasswordChangeForm(user, request.POST)
    if password_form.is_valid():
        password_change(user, password_form.cleaned_data["new_password1"], request)
        messages.success(request, "Password changed. Your other sessions have been signed out.")
        return redirect("accounts:profile")
    form = ProfileForm(instance=user)
    return render(
        request, "accounts/profile.html", {"form": form, "password_form": password_form}, status=400
    )
