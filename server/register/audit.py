"""The audit log: one entry per ULN an answer touched, or one per request that touched none.

Every route writes the same row: who (UKPRN, user name, user type), what (operation and
outcome), which ULN, when, and the route it came in by (``ROUTES``). Rows are only ever
inserted: nothing here or elsewhere updates or deletes one, and the database refuses it
(migration 0009's triggers). ``server/access/audit_view.py`` reads them back.

Two ways in:

* ``record(session, ...)``: inside a writing transaction (registrations, updates, merges), so
  the entry commits or rolls back with the change it describes.
* ``AuditWriter``: everything else (every read-only answer and every refusal). One writer
  thread per process takes whatever requests have queued, writes them as one multi-row insert
  in one transaction and wakes them all (group commit): a request waits until its batch is
  committed before it is answered, so an answered request's entry survives the process being
  killed, and the commit is paid once per batch, not once per request. On SQLite the writer
  alone takes the write lock for reads' audit entries, and holds it only for the insert; on
  PostgreSQL the insert is one prepared statement (arrays unnested into rows) on an autocommit
  connection: one round trip per batch.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import Future
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from miap.storage.engine import SQLITE_BUSY_MS, Database
from miap.storage.models import AuditEntry, utcnow

log = logging.getLogger("miap.audit")

#: The ways into the register, as the ``route`` column names them.
LEARNER_SERVICE = "LearnerService"
BATCH = "batch"
PLR = "PLR"
SIF = "SIF"
PORTAL = "portal"
CLI = "CLI"
ROUTES = (LEARNER_SERVICE, BATCH, PLR, SIF, PORTAL, CLI)

_COLUMNS = (
    "at",
    "request_id",
    "ukprn",
    "user_name",
    "user_type",
    "route",
    "operation",
    "outcome",
    "uln",
)
#: Rows per INSERT statement on SQLite (9 parameters each, under SQLite's 999).
_SQLITE_CHUNK = 100
#: Most rows one batch takes from the queue; the rest wait for the next batch.
MAX_BATCH = 2000
#: How long a request waits for its batch before giving up (the writer retries a busy lock).
WAIT_SECONDS = 120.0


def entries(
    *,
    request_id: str,
    ukprn: str | None,
    user_name: str | None,
    operation: str,
    outcome: str,
    ulns: Iterable[str] = (),
    route: str | None = None,
    user_type: str | None = None,
) -> list[dict[str, Any]]:
    """The audit rows for one answer: one per ULN, or one without a ULN. ``route`` is one of
    ``ROUTES``; ``user_type`` the caller's (LNR, ORG, AO, SER)."""
    if route is not None and route not in ROUTES:
        raise ValueError(f"unknown audit route {route!r}")
    now = utcnow()
    return [
        {
            "at": now,
            "request_id": request_id,
            "ukprn": ukprn,
            "user_name": user_name,
            "user_type": user_type,
            "route": route,
            "operation": operation,
            "outcome": outcome,
            "uln": uln,
        }
        for uln in (list(ulns) or [None])
    ]


def record(session: Session, **entry: Any) -> None:  # noqa: ANN401
    """Write one answer's entries in ``session``'s transaction (see ``entries``)."""
    # A Core insert: audit rows are never read back in the request, so the ORM's unit of work
    # (identity map, flush ordering) would be pure overhead on every call.
    session.execute(insert(AuditEntry), entries(**entry))


def record_administration(
    session: Session,
    *,
    by: str,
    operation: str,
    outcome: str = "OK",
    ulns: Iterable[str] = (),
    route: str = CLI,
) -> None:
    """Write an administrator's action (a merge, an account change, an audit read) in
    ``session``'s transaction: no provider, a request id of its own, ``by`` as the user."""
    record(
        session,
        request_id=uuid.uuid4().hex,
        ukprn=None,
        user_name=by,
        operation=operation,
        outcome=outcome,
        ulns=ulns,
        route=route,
    )


def record_all(session: Session, answers: Iterable[dict[str, Any]]) -> None:
    """Write many answers' entries in ``session``'s transaction, in one multi-row insert:
    ``answers`` holds one ``entries`` keyword set per answer (see ``record``)."""
    rows = [row for answer in answers for row in entries(**answer)]
    if rows:
        session.execute(insert(AuditEntry), rows)


class AuditWriter:
    """Group commit of audit entries by one thread per process (started on first use, and
    again in a forked child)."""

    def __init__(self, db: Database, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._max = max_batch
        self._condition = threading.Condition()
        self._queue: list[tuple[list[dict[str, Any]], Future]] = []
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._connection: Any = None  # the writer's own pooled DBAPI connection
        self._closed = False
        #: Batches committed and rows written (tests and diagnostics).
        self.batches = 0
        self.rows = 0

    # -- requests ---------------------------------------------------------------------------

    def record(self, **entry: Any) -> None:  # noqa: ANN401
        """Queue one answer's entries (see ``entries``) and return once they are committed;
        raises what the batch's commit raised."""
        self.submit(entries(**entry)).result(timeout=WAIT_SECONDS)

    def submit(self, rows: list[dict[str, Any]]) -> Future:
        """Queue ``rows``; the future completes when their batch is committed."""
        future: Future = Future()
        with self._condition:
            if self._closed:
                raise RuntimeError("the audit writer is closed")
            self._ensure_thread()
            self._queue.append((rows, future))
            self._condition.notify()
        return future

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread and release its connection."""
        with self._condition:
            self._closed = True
            self._condition.notify()
            thread = self._thread if self._pid == os.getpid() else None
        if thread is not None:
            thread.join(timeout)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        # First use, or a forked child: the parent's thread and connection are not ours.
        self._pid = os.getpid()
        self._connection = None
        self._thread = threading.Thread(target=self._run, name="miap-audit-writer", daemon=True)
        self._thread.start()

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._closed:
                    self._condition.wait()
                if not self._queue:
                    break
                batch, taken = [], 0
                while self._queue and (not taken or taken + len(self._queue[0][0]) <= self._max):
                    item = self._queue.pop(0)
                    batch.append(item)
                    taken += len(item[0])
            rows = [row for item, _ in batch for row in item]
            try:
                self._write(rows)
            except BaseException as error:  # noqa: BLE001 - every waiting request must hear it
                log.error("audit batch of %d rows failed: %s", len(rows), type(error).__name__)
                self._discard_connection()
                for _, future in batch:
                    future.set_exception(error)
            else:
                self.batches += 1
                self.rows += len(rows)
                for _, future in batch:
                    future.set_result(None)
        self._discard_connection(keep=True)

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if self._connection is None:
            self._connection = self._db.engine.raw_connection()
            if self._db.dialect == "postgresql":
                self._prepare_postgresql()
        if self._db.dialect == "sqlite":
            self._write_sqlite(rows)
        elif self._db.dialect == "postgresql":
            self._write_postgresql(rows)
        else:
            cursor = self._connection.cursor()
            try:
                cursor.executemany(_insert_sql(self._db, 1), [_values(row) for row in rows])
                self._connection.commit()
            finally:
                cursor.close()

    def _write_sqlite(self, rows: list[dict[str, Any]]) -> None:
        cursor = self._connection.cursor()
        try:
            _begin_immediate(cursor)
            try:
                for start in range(0, len(rows), _SQLITE_CHUNK):
                    chunk = rows[start : start + _SQLITE_CHUNK]
                    values = [_sqlite_value(v) for row in chunk for v in _values(row)]
                    cursor.execute(_insert_sql(self._db, len(chunk)), values)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        finally:
            cursor.close()

    def _prepare_postgresql(self) -> None:
        # Autocommit: the one INSERT is its own transaction (no BEGIN / COMMIT round trips).
        self._connection.driver_connection.autocommit = True
        cursor = self._connection.cursor()
        try:
            cursor.execute(
                "PREPARE miap_audit_insert (timestamp[], "
                + ", ".join(["varchar[]"] * (len(_COLUMNS) - 1))
                + f") AS INSERT INTO audit_log ({', '.join(_COLUMNS)}) SELECT * FROM unnest("
                + ", ".join(f"${n}" for n in range(1, len(_COLUMNS) + 1))
                + ")"
            )
        finally:
            cursor.close()

    def _write_postgresql(self, rows: list[dict[str, Any]]) -> None:
        arrays = tuple([row[column] for row in rows] for column in _COLUMNS)
        cursor = self._connection.cursor()
        try:
            cursor.execute(_EXECUTE_PG, arrays)
        finally:
            cursor.close()

    def _discard_connection(self, keep: bool = False) -> None:
        """Drop the writer's connection: after a failure it is not trusted again (and the
        PostgreSQL one was switched to autocommit, so it never goes back to the pool)."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if keep and self._db.dialect == "sqlite":
                connection.close()
            else:
                connection.invalidate()
        except Exception as error:  # noqa: BLE001 - already broken
            log.debug("discarding the audit connection: %s", type(error).__name__)


def _values(row: dict[str, Any]) -> tuple:
    return tuple(row[column] for column in _COLUMNS)


def _sqlite_value(value: Any) -> Any:  # noqa: ANN401
    # The text SQLAlchemy's SQLite DateTime type stores, so ORM reads parse it as usual.
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


_EXECUTE_PG = f"EXECUTE miap_audit_insert ({', '.join(['%s'] * len(_COLUMNS))})"
_SQL_CACHE: dict[tuple[str, int], str] = {}


def _insert_sql(db: Database, count: int) -> str:
    """``INSERT INTO audit_log (...) VALUES (...), (...)`` with ``count`` rows of
    placeholders in the driver's style."""
    key = (db.dialect, count)
    sql = _SQL_CACHE.get(key)
    if sql is None:
        mark = "?" if db.dialect == "sqlite" else "%s"
        row = "(" + ", ".join([mark] * len(_COLUMNS)) + ")"
        sql = f"INSERT INTO audit_log ({', '.join(_COLUMNS)}) VALUES " + ", ".join([row] * count)
        _SQL_CACHE[key] = sql
    return sql


def _begin_immediate(cursor: Any) -> None:  # noqa: ANN401
    """Take SQLite's write lock, retrying a busy lock every fraction of a millisecond.

    SQLite's own busy handler sleeps 1, 2, 5, 10… ms between tries; the lock is held for well
    under a millisecond per batch, so polling finely keeps the waiters' latency down."""
    deadline = time.monotonic() + SQLITE_BUSY_MS / 1000
    cursor.execute("PRAGMA busy_timeout=0")
    try:
        pause = 0.0002
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except Exception as error:  # sqlite3.OperationalError: database is locked
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 1.5, 0.002)
    finally:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
