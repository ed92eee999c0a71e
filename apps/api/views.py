"""The base of every API view."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from rest_framework.views import APIView


class ApiView(APIView):
    """Authentication is DRF's job (keys or session), so the login redirect does not apply.
    Errors go through apps.api.errors.api_exception_handler like those of every DRF view."""

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        return login_not_required(super().as_view(**initkwargs))
