"""Which constraint an ``IntegrityError`` broke, by name, on SQLite and PostgreSQL alike.

The register must tell "this person is already registered" (the identity index) from "this ULN
was drawn twice" (the ULN's unique constraint) and from anything else; reading every failure
as a duplicate would answer a genuine bug with "already registered".
"""

from __future__ import annotations

import re

from sqlalchemy import Table
from sqlalchemy.exc import IntegrityError

from miap.storage.models import Base

_SQLITE = re.compile(r"(UNIQUE|NOT NULL|CHECK|FOREIGN KEY) constraint failed: ?(.*)")


def violated_constraint(error: IntegrityError) -> str:
    """The broken constraint's name (``uq_learners_identity``), or a description of it.

    PostgreSQL names it; SQLite lists the columns of a unique index (mapped back to the index
    name through the models) or names the NOT NULL column.
    """
    diag = getattr(error.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return name
    column = getattr(diag, "column_name", None)
    if column:
        return f"not null: {getattr(diag, 'table_name', '')}.{column}"
    match = _SQLITE.search(str(error.orig))
    if match is None:
        return "unknown"
    kind, detail = match.groups()
    columns = tuple(part.strip() for part in detail.split(","))
    if kind == "UNIQUE":
        return _unique_name(columns) or f"unique: {detail}"
    return f"{kind.lower()}: {detail}"


def _unique_name(qualified: tuple[str, ...]) -> str | None:
    table_name = qualified[0].split(".")[0]
    columns = tuple(column.split(".")[-1] for column in qualified)
    table: Table | None = Base.metadata.tables.get(table_name)
    if table is None:
        return None
    for index in table.indexes:
        if index.unique and tuple(c.name for c in index.columns) == columns:
            return index.name
    for constraint in table.constraints:
        names = tuple(c.name for c in getattr(constraint, "columns", ()))
        if names == columns and constraint.name:
            return constraint.name
    for column in table.columns:
        if column.unique and (column.name,) == columns:
            return f"uq_{table_name}_{column.name}"
    return None
