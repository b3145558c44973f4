"""Engine and session set-up for SQLite (embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///miap.db"
URL_ENV = "MIAP_DATABASE_URL"


def database_url(explicit: str | None = None) -> str:
    """``--db`` wins, then ``MIAP_DATABASE_URL``, then a SQLite file in the working directory."""
    return explicit or os.environ.get(URL_ENV) or DEFAULT_URL


def sqlalchemy_url(url: str) -> str:
    """Pin a plain ``postgresql://`` URL to psycopg2, the driver we ship.

    SQLAlchemy 2.1 would otherwise pick psycopg 3.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    url = sqlalchemy_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    # No pool_pre_ping: it costs a round trip on every request. A connection the server has
    # dropped fails its first statement instead, SQLAlchemy then discards the whole pool, and
    # that one request answers WSEC0999; pool_recycle retires connections before idle timeouts.
    return create_engine(url, pool_recycle=1800, pool_size=10, max_overflow=10)


def _configure_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers, and BEGIN IMMEDIATE so writers queue instead of deadlocking.

    Every request writes (at least its audit entry), so each transaction takes the write lock
    up front; pysqlite's own deferred BEGIN would fail with "database is locked" when two
    transactions both try to upgrade from read to write.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # noqa: ANN001
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine plus its session factory; one per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
