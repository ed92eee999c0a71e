"""Binary COPY of rows already in their column order: the bulk write of every telemetry owner.

Why not the ORM: one request carries thousands of records; COPY writes them in one round trip at
a fraction of the cost of INSERTs, and no model instance is built per record.
"""

from __future__ import annotations

from typing import Any


def copy_rows(cursor: Any, statement: str, types: list[str], rows: list[tuple[Any, ...]]) -> None:
    """COPY `rows` with `statement` (`COPY t (...) FROM STDIN (FORMAT BINARY)`) on a psycopg cursor."""
    with cursor.copy(statement) as copy:
        copy.set_types(types)
        write = copy.write_row
        for row in rows:
            write(row)
