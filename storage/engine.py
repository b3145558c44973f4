"""Engine and session set-up for SQLite (embedded default) and PostgreSQL (scale-out).

Two engines per process on one database:

* the write engine (``Database.engine``, ``Database.transaction()``): ORM sessions for the
  operations that change the register. On SQLite every transaction takes the write lock up
  front (``BEGIN IMMEDIATE``) so that two writers queue instead of deadlocking on an upgrade.
* the read engine (``Database.read_engine``, ``Database.reading()``, ``storage/reads.py``):
  the read-only operations. It never takes SQLite's write lock: its connections are
  ``query_only`` and its transactions start with a deferred ``BEGIN``, a WAL read snapshot
  that runs beside the writer. On PostgreSQL its connections are in autocommit, so a
  one-statement read costs one round trip (no ``BEGIN`` / ``ROLLBACK`` around it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

#: How long a SQLite connection waits for the write lock before giving up, in ms.
SQLITE_BUSY_MS = 30000


def sqlalchemy_url(url: str) -> str:
    """Pin a plain ``postgresql://`` URL to psycopg2, the driver we ship.

    SQLAlchemy 2.1 would otherwise pick psycopg 3.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    """The write engine."""
    url = sqlalchemy_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
        _configure_sqlite(engine, begin="BEGIN IMMEDIATE")
        return engine
    # No pool_pre_ping: it costs a round trip on every request. A connection the server has
    # dropped fails its first statement instead, SQLAlchemy then discards the whole pool, and
    # that one request answers WSEC0999; pool_recycle retires connections before idle timeouts.
    return create_engine(url, pool_recycle=1800, pool_size=10, max_overflow=10)


def make_read_engine(url: str) -> Engine:
    """The read engine: never takes SQLite's write lock; autocommit on PostgreSQL."""
    url = sqlalchemy_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
        _configure_sqlite(engine, begin="BEGIN", query_only=True)
        return engine
    return create_engine(
        url,
        pool_recycle=1800,
        pool_size=10,
        max_overflow=10,
        isolation_level="AUTOCOMMIT",
        # Autocommit connections hold no transaction to roll back when they are returned.
        pool_reset_on_return=None,
    )


def _configure_sqlite(engine: Engine, begin: str, query_only: bool = False) -> None:
    """WAL for readers beside the writer; ``begin`` opens every SQLAlchemy transaction.

    Every writing transaction takes the write lock up front (``BEGIN IMMEDIATE``): pysqlite's
    own deferred BEGIN would fail with "database is locked" when two transactions both try to
    upgrade from read to write. Read transactions use a deferred ``BEGIN`` on ``query_only``
    connections, which can never ask for the lock.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not query_only:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        if query_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # noqa: ANN001
        connection.exec_driver_sql(begin)


class Database:
    """The write and read engines plus their session factories; one per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._read_engine: Engine | None = None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions: sessionmaker | None = None

    @property
    def read_engine(self) -> Engine:
        """Made on first use, so tools that only write never open a second pool."""
        if self._read_engine is None:
            self._read_engine = make_read_engine(self.url)
            self._read_sessions = sessionmaker(self._read_engine, expire_on_commit=False)
        return self._read_engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session on the read engine: it connects on first use, reads one
        snapshot (SQLite) and is rolled back at the end; it never takes SQLite's write lock.
        On PostgreSQL each statement is its own snapshot (autocommit)."""
        self.read_engine  # noqa: B018 - makes the factory
        assert self._read_sessions is not None
        with self._read_sessions() as session:
            try:
                yield session
            finally:
                session.rollback()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._read_engine is not None:
            self._read_engine.dispose()
