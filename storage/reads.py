"""The thin read path: a few hot read-only queries, compiled once, run on the raw driver.

The read-only operations (finds by ULN, verification, the per-request provider check) run
here instead of through an ORM session: each query is a SQLAlchemy Core statement compiled once
per dialect, executed with the DBAPI cursor of a pooled read-engine connection (see
``engine.make_read_engine``: never SQLite's write lock; autocommit on PostgreSQL, so one
statement is one round trip). On PostgreSQL each statement is ``PREPARE``d once per connection
and then ``EXECUTE``d; on SQLite the driver keeps its own per-connection statement cache.

Rows come back as ``LearnerRow`` / ``ProviderRow`` named tuples whose attribute names are the
ORM models' (``Learner.given_name`` → ``row.given_name``) with the same Python types, so the
domain and the SOAP layer can take either.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, DateTime, Engine, bindparam, select
from sqlalchemy.sql import Select

from miap.storage.models import AccessGrant, Learner, Provider

_LEARNERS = Learner.__table__
_PROVIDERS = Provider.__table__
LEARNER_FIELDS = tuple(column.key for column in _LEARNERS.columns)
#: A learner as the read path returns it: the ORM Learner's attribute names and types.
LearnerRow = namedtuple("LearnerRow", LEARNER_FIELDS)  # type: ignore[misc]
ProviderRow = namedtuple("ProviderRow", ("ukprn", "status", "password_hash"))
_PARAM = re.compile(r"%\((\w+)\)s")


def _learner_and_master() -> Select:
    """A learner by ULN, with the master it is merged into (if any) in the same row."""
    learner, master = _LEARNERS.alias("l"), _LEARNERS.alias("m")
    return (
        select(*learner.columns, *master.columns)
        .select_from(learner.outerjoin(master, master.c.id == learner.c.merged_into_id))
        .where(learner.c.uln == bindparam("uln"))
    )


def _provider(by_ukprn: bool) -> Select:
    column = _PROVIDERS.c.ukprn if by_ukprn else _PROVIDERS.c.organisation_ref
    return select(_PROVIDERS.c.ukprn, _PROVIDERS.c.status, _PROVIDERS.c.password_hash).where(
        column == bindparam("identity")
    )


def _grants() -> Select:
    return select(AccessGrant.user_type).where(AccessGrant.ukprn == bindparam("ukprn"))


STATEMENTS: dict[str, Callable[[], Select]] = {
    "learner_and_master": _learner_and_master,
    "provider_by_ukprn": lambda: _provider(True),
    "provider_by_org_ref": lambda: _provider(False),
    "grants": _grants,
}


@dataclass(frozen=True)
class Compiled:
    """One statement for one dialect: driver SQL, parameter order and column converters."""

    name: str
    sql: str  # what the cursor executes
    prepare: str | None  # PostgreSQL: PREPARE text, run once per connection
    params: tuple[str, ...]
    converters: tuple[Callable[[Any], Any] | None, ...]

    def arguments(self, values: dict[str, Any]) -> tuple:
        return tuple(values[name] for name in self.params)

    def convert(self, row: Sequence) -> list:
        if not any(self.converters):
            return list(row)
        return [
            value if convert is None or value is None else convert(value)
            for convert, value in zip(self.converters, row, strict=True)
        ]


def _sqlite_converter(column_type: Any) -> Callable[[Any], Any] | None:  # noqa: ANN401
    # SQLAlchemy stores SQLite dates and datetimes as ISO text; the raw driver returns it as is.
    if isinstance(column_type, DateTime):
        return _iso(dt.datetime.fromisoformat)
    if isinstance(column_type, Date):
        return _iso(dt.date.fromisoformat)
    return None


def _iso(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    return lambda value: parse(value) if isinstance(value, str) else value


def compile_statement(name: str, statement: Select, engine: Engine) -> Compiled:
    compiled = statement.compile(dialect=engine.dialect)
    sql = str(compiled)
    columns = statement.selected_columns
    if engine.dialect.name == "sqlite":
        params = tuple(compiled.positiontup or ())
        converters = tuple(_sqlite_converter(column.type) for column in columns)
        return Compiled(name, sql, None, params, converters)
    if engine.dialect.name == "postgresql":
        order: list[str] = []

        def number(match: re.Match) -> str:
            if match.group(1) not in order:
                order.append(match.group(1))
            return f"${order.index(match.group(1)) + 1}"

        body = _PARAM.sub(number, sql).replace("%%", "%")
        prepared = f"miap_{name}"
        placeholders = ", ".join(["%s"] * len(order))
        return Compiled(
            name,
            f"EXECUTE {prepared} ({placeholders})" if order else f"EXECUTE {prepared}",
            f"PREPARE {prepared} AS {body}",
            tuple(order),
            tuple(None for _ in columns),
        )
    # Any other dialect: the driver's own paramstyle, unprepared.
    params = tuple(compiled.positiontup or compiled.params)
    return Compiled(name, sql, None, params, tuple(None for _ in columns))


class Reads:
    """The read path on one database's read engine; one per process, shared by threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._compiled = {
            name: compile_statement(name, build(), engine) for name, build in STATEMENTS.items()
        }
        self._lock = threading.Lock()

    @contextmanager
    def _cursor(self) -> Iterator[tuple[Any, Any]]:
        """A pooled connection's DBAPI cursor (and the pool's connection, for its ``info``).
        A connection that failed is discarded rather than handed to the next request."""
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                yield connection, cursor
            finally:
                cursor.close()
        except self.engine.dialect.loaded_dbapi.Error:
            connection.invalidate()
            raise
        finally:
            connection.close()

    def _fetch(self, name: str, values: dict[str, Any]) -> list[list]:
        statement = self._compiled[name]
        with self._cursor() as (connection, cursor):
            if statement.prepare is not None:
                prepared = connection.info.setdefault("miap_prepared", set())
                if name not in prepared:
                    cursor.execute(statement.prepare)
                    prepared.add(name)
            cursor.execute(statement.sql, statement.arguments(values))
            return [statement.convert(row) for row in cursor.fetchall()]

    def learner_and_master(self, uln: str) -> tuple[LearnerRow | None, LearnerRow | None]:
        """The learner holding ``uln`` (whatever its state) and the master it is merged into."""
        rows = self._fetch("learner_and_master", {"uln": uln})
        if not rows:
            return None, None
        values = rows[0]
        width = len(LEARNER_FIELDS)
        learner = LearnerRow(*values[:width])
        master = LearnerRow(*values[width:]) if values[width] is not None else None
        return learner, master

    def provider(self, identity: str, by_ukprn: bool = True) -> ProviderRow | None:
        """A provider's UKPRN, status and password hash, by UKPRN or OrganisationRef."""
        name = "provider_by_ukprn" if by_ukprn else "provider_by_org_ref"
        rows = self._fetch(name, {"identity": identity})
        return ProviderRow(*rows[0]) if rows else None

    def grants(self, ukprn: str) -> frozenset[str]:
        """The user types other than ORG the provider is granted (``access_grants``)."""
        return frozenset(row[0] for row in self._fetch("grants", {"ukprn": ukprn}))
