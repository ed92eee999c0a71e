"""Accounts: sign-up, login, password reset, profile, and the user model.

Public surface (what other apps may import; nothing else of this app):
  apps.accounts.models      User
  apps.accounts.forms       ThrottledAuthenticationForm (the login form of the tenant admin site)
"""
