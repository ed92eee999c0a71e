"""The database backend settings use when no DATABASE_URL is known (see config/stackenv.py).

Design note: a default of 127.0.0.1:5432 made `manage.py demo` in a new shell write to whatever
PostgreSQL happened to listen there (or fail with a bare connection error). This backend is
PostgreSQL's in every respect that needs no server — so `manage.py help`, `check` and
`makemigrations` still work — and refuses to connect with one line saying what to do.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base
from django.db.utils import OperationalError

MESSAGE = (
    "No database configured: start the local stack with `make run` (commands in other shells find "
    "it through var/stack.env) or set DATABASE_URL."
)


class DatabaseNotConfigured(OperationalError):
    # An OperationalError like an unreachable server: `makemigrations` and /health/ready handle it as one.
    pass


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        raise DatabaseNotConfigured(MESSAGE)

    def get_connection_params(self) -> dict[str, Any]:
        raise DatabaseNotConfigured(MESSAGE)

    @property
    def pool(self) -> None:
        return None
