from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        # Django's login signals are the one hook that covers every sign-in path (the app's
        # login page, /admin/ and /manage/), so the audit of sign-ins hangs off them.
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from apps.accounts import signals

        user_logged_in.connect(signals.audit_login, dispatch_uid="audit_login")
        user_login_failed.connect(signals.audit_login_failure, dispatch_uid="audit_login_failure")
