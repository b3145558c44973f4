"""Loading a file of learning events: streamed into a staging table, then settled set-based.

One load is one transaction, so a file refused half-way (malformed XML found at its end, a
return older than the last one loaded) leaves nothing written. In it:

1. **Staging**: the reader streams the file's events (``Staged`` rows, checked for what needs
   no database: ULN check digit, values) in chunks into a temporary table, by ``COPY`` on
   PostgreSQL and ``executemany`` on SQLite; memory holds a few chunks at most.
2. **Settling**, one statement each over the whole file: an event id given twice is rejected
   after its first; an event whose ULN the register does not hold, or holds withdrawn, is
   rejected; the scope's live events the file no longer holds are withdrawn (a return is a
   full snapshot of its data owner's collection); events whose content digest changed (or
   that had been withdrawn) are updated; new ones are inserted; the rest are unchanged.
3. The rejected rows go to the reject file (in file order, with their place and reason), and
   the return is recorded in ``record_returns`` with its counts.

Loads of the same scope (source, data owner, collection) are serialised (an advisory lock on
PostgreSQL; SQLite's writer lock), so reloading a file is idempotent whatever runs beside it.

A file that is, byte for byte, the last one loaded for its scope is not read again when the
register still answers for its ULNs what it answered then (``_repeat``): the ULNs of the
scope's live events are all still registered and not withdrawn, and each ULN rejected as not
in the register, or as withdrawn, still is. Reading it would then stage the same rows and
settle them to the same outcome (nothing loaded, updated or withdrawn; the same rejects,
which each load keeps in ``record_rejects``), so the load records the return and writes the
reject file from what it kept. ``reread`` reads the file whatever the last load was.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Protocol

from sqlalchemy import DateTime, bindparam, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from miap.server.progress import Progress, ProgressFactory, silent
from miap.server.records.errors import ReadWhole, RecordsError
from miap.server.records.events import (
    DATE_FIELDS,
    FIELDS,
    INTEGER_FIELDS,
    STAGE_COLUMNS,
    Staged,
    StagedCsv,
    as_csv,
)
from miap.storage.engine import Database
from miap.storage.models import utcnow
from miap.storage.records import RecordReject, RecordReturn

#: Staged rows per write (one ``COPY`` on PostgreSQL, one ``executemany`` on SQLite).
CHUNK = {"postgresql": 20_000, "sqlite": 20_000}
STAGE = "record_stage"
REJECT_HEADER = ("position", "ULN", "SourceEventId", "reason")
#: The two reasons the register gives (every other reason is the file's own).
NOT_IN_REGISTER = "ULN not in the register"
WITHDRAWN = "ULN withdrawn from the register"

log = logging.getLogger("miap.records")


@dataclass(frozen=True)
class Scope:
    """Which snapshot a file is: its source, data owner and collection; which return of it
    (``return_key``); and, for ILR, when the return was prepared (from its name)."""

    source: str
    provider_ukprn: str
    collection: str
    return_key: str
    prepared_at: dt.datetime | None = None


#: Reads a file in parts already staged as CSV, or raises ``ReadWhole``.
PartReading = Callable[[Callable[[int], object]], Iterator[StagedCsv]]


class Reader(Protocol):
    """A file of events (``ilr.IlrReturn``, ``results.ResultsFile``)."""

    path: Path
    content_hash: str
    skipped: int

    @property
    def size(self) -> int: ...

    def events(self, advance: Callable[[int], object]) -> Iterator[Staged]: ...

    def digest(self) -> str:
        """The SHA-256 of the file as ``events`` reads it, without reading its events."""
        ...


@dataclass
class Summary:
    scope: Scope
    events: int = 0
    loaded: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    rejected: int = 0
    #: Records read that are not learning events (ILR work-placement aims).
    skipped: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    #: The return this file repeats, byte for byte, when it was not read again.
    repeats: int | None = None

    def line(self) -> str:
        text_line = (
            f"{self.events:,} events: {self.loaded:,} loaded, {self.updated:,} updated, "
            f"{self.unchanged:,} unchanged, {self.withdrawn:,} withdrawn, "
            f"{self.rejected:,} rejected"
        )
        if self.skipped:
            text_line += f" ({self.skipped:,} work-placement aims skipped)"
        if self.repeats is not None:
            text_line += f"; the same file as load {self.repeats}, not read again"
        return text_line


def _stage_type(name: str, dialect: str) -> str:
    if name == "pos":
        return "INTEGER PRIMARY KEY" if dialect == "sqlite" else "BIGINT"
    if name in INTEGER_FIELDS:
        return "INTEGER"
    if name in DATE_FIELDS and dialect == "postgresql":
        return "DATE"
    return "TEXT"


class _Inserter:
    """SQLite: each chunk by ``executemany`` as it comes."""

    def __init__(self, raw) -> None:  # noqa: ANN001 - a sqlite3 connection
        self._raw = raw
        self._sql = f"INSERT INTO {STAGE} VALUES ({', '.join('?' * len(STAGE_COLUMNS))})"

    def put(self, chunk: list[Staged]) -> None:
        cursor = self._raw.cursor()
        try:
            cursor.executemany(self._sql, [event.row() for event in chunk])
        finally:
            cursor.close()

    def close(self, failed: bool) -> None:
        pass


class _Copier:
    """PostgreSQL: each chunk by ``COPY`` on a second thread, on the load's own connection
    (inside its transaction; this thread does not use it while staging), while the caller
    reads the next chunk. Two chunks queued at most, so memory stays bounded."""

    _SQL = f"COPY {STAGE} ({', '.join(STAGE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)"

    def __init__(self, raw) -> None:  # noqa: ANN001 - a psycopg2 connection
        self._raw = raw
        self._queue: queue.Queue[list[Staged] | str | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="records-copy", daemon=True)
        self._thread.start()

    def put(self, chunk: list[Staged] | str) -> None:
        """Queue a chunk of rows, or rows already written as CSV."""
        if self._error is not None:
            raise self._failure()
        self._queue.put(chunk)

    def close(self, failed: bool) -> None:
        """Wait for the queued chunks; raise the writer's error unless already failing."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and not failed:
            raise self._failure()

    def _failure(self) -> RecordsError:
        """The writer's error as a refusal (psycopg2's own errors are not SQLAlchemy's)."""
        first = str(self._error).strip().splitlines()[:1]
        return RecordsError(
            f"cannot stage the events: {type(self._error).__name__}: {' '.join(first)}"
        )

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain, so the producer never blocks
            try:
                payload = io.StringIO(chunk if isinstance(chunk, str) else as_csv(chunk).payload)
                with self._raw.cursor() as cursor:
                    cursor.copy_expert(self._SQL, payload)
            except BaseException as error:  # noqa: BLE001 - raised in the producer's thread
                self._error = error


class RecordsLoad:
    """One ``miap records load``; see the module docstring. ``scope_of(reader)`` says the
    file's scope once its events have been read (an ILR's is in its header)."""

    def __init__(
        self,
        db: Database,
        reader: Reader,
        scope_of: Callable[[Reader], Scope],
        rejects: Path | None = None,
        progress: ProgressFactory = silent,
        chunk: int | None = None,
        parts: PartReading | None = None,
        scope_ahead: Callable[[], Scope | None] | None = None,
        reread: bool = False,
    ) -> None:
        self.db = db
        self.reader = reader
        self.scope_of = scope_of
        self.rejects = rejects
        self.progress = progress
        self.dialect = db.dialect
        self.chunk = chunk or CHUNK.get(self.dialect, CHUNK["sqlite"])
        #: Reads the file in parts already staged as CSV (``ilr_parts``); used on PostgreSQL,
        #: where ``COPY`` takes them as they are.
        self.parts = parts if self.dialect == "postgresql" else None
        #: The file's scope before its events are read (``None``: not known that early, as
        #: when an ILR's header does not read plainly); the file is read when not given.
        self.scope_ahead = None if reread else scope_ahead
        #: The load's one timestamp (DateLoaded, withdrawn_at), taken when settling starts.
        self._now = utcnow()

    def run(self) -> Summary:
        started = time.perf_counter()
        phases: dict[str, float] = {}
        partial = (
            None if self.rejects is None else self.rejects.with_name(self.rejects.name + ".part")
        )
        try:
            with self.db.transaction() as session:
                connection = session.connection()
                summary = self._repeat(session, phases) or self._read(connection, phases)
                scope = summary.scope
                loaded = RecordReturn(
                    source=scope.source,
                    provider_ukprn=scope.provider_ukprn,
                    collection=scope.collection,
                    return_key=scope.return_key,
                    file_name=self.reader.path.name[:255],
                    content_hash=self.reader.content_hash,
                    prepared_at=scope.prepared_at,
                    loaded_at=self._now,
                    events=summary.events,
                    loaded=summary.loaded,
                    updated=summary.updated,
                    unchanged=summary.unchanged,
                    withdrawn=summary.withdrawn,
                    rejected=summary.rejected,
                    skipped=summary.skipped,
                )
                session.add(loaded)
                session.flush()
                self._keep_rejects(connection, loaded.id, summary.repeats)
                if partial is not None:
                    self._write_rejects(connection, loaded.id, partial)
                if self.dialect == "sqlite" and summary.repeats is None:
                    connection.exec_driver_sql(f"DROP TABLE temp.{STAGE}")
        except BaseException:
            if partial is not None and partial.exists():
                partial.unlink()
            raise
        if partial is not None:
            os.replace(partial, self.rejects)
        summary.seconds = time.perf_counter() - started
        summary.phases = phases
        return summary

    def _read(self, connection: Connection, phases: dict[str, float]) -> Summary:
        """Stage the file's events and settle them (see the module docstring)."""
        self._create_stage(connection)
        mark = time.perf_counter()
        staged, rejected = self._stage(connection)
        phases["staging"] = time.perf_counter() - mark
        scope = self.scope_of(self.reader)
        summary = Summary(scope, events=staged, rejected=rejected, skipped=self.reader.skipped)
        mark = time.perf_counter()
        self._now = utcnow()
        self._lock(connection, scope)
        self._check_order(connection, scope)
        self._settle(connection, summary)
        phases["settling"] = time.perf_counter() - mark
        return summary

    # -- a file loaded already ------------------------------------------------------------

    def _repeat(self, session: Session, phases: dict[str, float]) -> Summary | None:
        """The outcome of reading the file, when it is the last one loaded for its scope and
        the register answers for its ULNs as it did then; else ``None`` (read it)."""
        scope = self.scope_ahead() if self.scope_ahead is not None else None
        if scope is None:
            return None
        mark = time.perf_counter()
        connection = session.connection()
        self._lock(connection, scope)
        last = session.scalars(
            select(RecordReturn)
            .where(
                RecordReturn.source == scope.source,
                RecordReturn.provider_ukprn == scope.provider_ukprn,
                RecordReturn.collection == scope.collection,
            )
            .order_by(RecordReturn.loaded_at.desc(), RecordReturn.id.desc())
            .limit(1)
        ).first()
        if last is None or last.skipped is None or not self._kept_all(session, last):
            return None
        digest = self.reader.digest()
        if digest != last.content_hash or not self._register_agrees(connection, scope, last.id):
            return None
        self._check_order(connection, scope)
        self.reader.content_hash = digest
        self._now = utcnow()
        phases["comparing"] = time.perf_counter() - mark
        return Summary(
            scope,
            events=last.events,
            unchanged=last.events - last.rejected,
            rejected=last.rejected,
            skipped=last.skipped,
            repeats=last.id,
        )

    @staticmethod
    def _kept_all(session: Session, last: RecordReturn) -> bool:
        """Whether every event ``last`` rejected is kept (a load before they were kept: not)."""
        kept = session.scalar(
            select(func.count()).select_from(RecordReject).where(RecordReject.return_id == last.id)
        )
        return kept == last.rejected

    def _register_agrees(self, connection: Connection, scope: Scope, last: int) -> bool:
        """Whether each ULN the last load accepted is still registered and not withdrawn,
        and each it rejected as not registered, or as withdrawn, still is."""
        changed = connection.execute(
            text(
                """SELECT 1 FROM learning_events e
                WHERE e.source = :source AND e.provider_ukprn = :provider
                  AND e.collection = :collection AND e.withdrawn_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM learners l
                                  WHERE l.uln = e.uln AND l.deleted_at IS NULL)
                UNION ALL
                SELECT 1 FROM record_rejects r
                WHERE r.return_id = :last
                  AND ((r.reason = :not_in AND EXISTS (SELECT 1 FROM learners l
                                                      WHERE l.uln = r.uln))
                    OR (r.reason = :withdrawn AND NOT EXISTS (
                            SELECT 1 FROM learners l
                            WHERE l.uln = r.uln AND l.deleted_at IS NOT NULL)))
                LIMIT 1"""
            ),
            {
                "source": scope.source,
                "provider": scope.provider_ukprn,
                "collection": scope.collection,
                "last": last,
                "not_in": NOT_IN_REGISTER,
                "withdrawn": WITHDRAWN,
            },
        ).first()
        return changed is None

    # -- staging --------------------------------------------------------------------------

    def _create_stage(self, connection: Connection) -> None:
        columns = ", ".join(f"{name} {_stage_type(name, self.dialect)}" for name in STAGE_COLUMNS)
        if self.dialect == "postgresql":
            connection.exec_driver_sql(f"CREATE TEMP TABLE {STAGE} ({columns}) ON COMMIT DROP")
        else:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{STAGE}")
            connection.exec_driver_sql(f"CREATE TEMP TABLE {STAGE} ({columns})")

    def _stage(self, connection: Connection) -> tuple[int, int]:
        """Stream the file's rows into the staging table; (rows, rejected so far)."""
        staged = None
        if self.parts is not None:
            try:
                staged = self._put(connection, "reading", self._parted)
            except ReadWhole as why:
                log.info("records load: reading %s whole (%s)", self.reader.path.name, why)
                connection.exec_driver_sql(f"TRUNCATE {STAGE}")
        if staged is None:
            staged = self._put(connection, "reading", self._chunked)
        connection.exec_driver_sql(f"CREATE INDEX ix_{STAGE}_event ON {STAGE} (source_event_id)")
        if self.dialect == "postgresql":
            connection.exec_driver_sql(f"ANALYZE {STAGE}")
        return staged

    def _put(
        self,
        connection: Connection,
        label: str,
        chunks: Callable[[Callable[[int], object]], Iterator[tuple[list[Staged] | str, int, int]]],
    ) -> tuple[int, int]:
        """Write ``chunks`` (each with its rows and rejected rows) to the staging table."""
        bar: Progress = self.progress(f"{label} {self.reader.path.name}", self.reader.size, 0)
        raw = connection.connection.dbapi_connection
        writer = _Copier(raw) if self.dialect == "postgresql" else _Inserter(raw)
        rows = rejected = 0
        failed = True
        try:
            for chunk, count, refused in chunks(bar.update):
                rows += count
                rejected += refused
                writer.put(chunk)
            failed = False
        finally:
            writer.close(failed)
            bar.close()
        return rows, rejected

    def _chunked(self, advance: Callable[[int], object]) -> Iterator[tuple[list[Staged], int, int]]:
        events = self.reader.events(advance)
        while chunk := list(islice(events, self.chunk)):
            yield chunk, len(chunk), sum(1 for event in chunk if event.reason is not None)

    def _parted(self, advance: Callable[[int], object]) -> Iterator[tuple[str, int, int]]:
        assert self.parts is not None
        for part in self.parts(advance):
            yield part.payload, part.rows, part.rejected

    # -- settling -------------------------------------------------------------------------

    def _lock(self, connection: Connection, scope: Scope) -> None:
        if self.dialect == "postgresql":
            key = f"records:{scope.source}:{scope.provider_ukprn}:{scope.collection}"
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})

    def _check_order(self, connection: Connection, scope: Scope) -> None:
        """A return prepared before the last one loaded of its collection is refused."""
        if scope.prepared_at is None:
            return
        last = connection.execute(
            select(func.max(RecordReturn.prepared_at)).where(
                RecordReturn.source == scope.source,
                RecordReturn.provider_ukprn == scope.provider_ukprn,
                RecordReturn.collection == scope.collection,
            )
        ).scalar()
        if last is not None and scope.prepared_at < last:
            raise RecordsError(
                f"{self.reader.path.name}: prepared {scope.prepared_at:%Y-%m-%d %H:%M:%S}, "
                f"before the return already loaded for {scope.provider_ukprn} {scope.collection} "
                f"({last:%Y-%m-%d %H:%M:%S})"
            )

    def _execute(self, connection: Connection, sql: str, scope: Scope) -> int:
        statement = text(sql)
        if ":now" in sql:
            statement = statement.bindparams(bindparam("now", type_=DateTime()))
        result = connection.execute(
            statement,
            {
                "source": scope.source,
                "provider": scope.provider_ukprn,
                "collection": scope.collection,
                "return_key": scope.return_key,
                "now": self._now,
            },
        )
        return result.rowcount

    def _settle(self, connection: Connection, summary: Summary) -> None:
        scope = summary.scope
        run = lambda sql: self._execute(connection, sql, scope)  # noqa: E731
        in_scope = (
            "e.source = :source AND e.provider_ukprn = :provider AND e.collection = :collection"
        )
        summary.rejected += run(
            f"""UPDATE {STAGE} AS s
            SET reason = 'SourceEventId given again (first at ' || f.place || ')'
            FROM (SELECT source_event_id, MIN(pos) AS pos FROM {STAGE} WHERE reason IS NULL
                  GROUP BY source_event_id HAVING COUNT(*) > 1) AS d,
                 {STAGE} AS f
            WHERE f.pos = d.pos AND s.source_event_id = d.source_event_id AND s.pos > d.pos
              AND s.reason IS NULL"""
        )
        summary.rejected += run(
            f"""UPDATE {STAGE} SET reason = '{NOT_IN_REGISTER}'
            WHERE reason IS NULL
              AND NOT EXISTS (SELECT 1 FROM learners l WHERE l.uln = {STAGE}.uln)"""
        )
        summary.rejected += run(
            f"""UPDATE {STAGE} SET reason = '{WITHDRAWN}'
            WHERE reason IS NULL
              AND uln IN (SELECT l.uln FROM learners l WHERE l.deleted_at IS NOT NULL)"""
        )
        summary.withdrawn = run(
            f"""UPDATE learning_events AS e SET withdrawn_at = :now
            WHERE {in_scope} AND e.withdrawn_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM {STAGE} s
                              WHERE s.source_event_id = e.source_event_id AND s.reason IS NULL)"""
        )
        content = ", ".join(f"{name} = s.{name}" for name in FIELDS)
        summary.updated = run(
            f"""UPDATE learning_events AS e
            SET uln = s.uln, digest = s.digest, return_key = :return_key, loaded_at = :now,
                withdrawn_at = NULL, {content}
            FROM {STAGE} AS s
            WHERE {in_scope} AND e.source_event_id = s.source_event_id AND s.reason IS NULL
              AND (e.digest <> s.digest OR e.withdrawn_at IS NOT NULL)"""
        )
        columns = ", ".join(FIELDS)
        from_stage = ", ".join(f"s.{name}" for name in FIELDS)
        summary.loaded = run(
            f"""INSERT INTO learning_events (uln, source, provider_ukprn, collection,
                source_event_id, return_key, digest, {columns}, loaded_at)
            SELECT s.uln, :source, :provider, :collection, s.source_event_id, :return_key,
                s.digest, {from_stage}, :now
            FROM {STAGE} AS s
            WHERE s.reason IS NULL
              AND NOT EXISTS (SELECT 1 FROM learning_events e
                              WHERE {in_scope} AND e.source_event_id = s.source_event_id)"""
        )
        summary.unchanged = summary.events - summary.rejected - summary.loaded - summary.updated

    def _keep_rejects(self, connection: Connection, loaded: int, repeats: int | None) -> None:
        """Keep the load's rejected events: the staged ones, or those of the return it repeats."""
        columns = "pos, place, uln, source_event_id, reason"
        if repeats is None:
            rows, where = STAGE, "reason IS NOT NULL"
        else:
            rows, where = "record_rejects", "return_id = :repeats"
        connection.execute(
            text(
                f"INSERT INTO record_rejects (return_id, {columns}) "
                f"SELECT :loaded, {columns} FROM {rows} WHERE {where}"
            ),
            {"loaded": loaded, "repeats": repeats},
        )

    def _write_rejects(self, connection: Connection, loaded: int, path: Path) -> None:
        result = connection.execute(
            text(
                "SELECT place, uln, source_event_id, reason FROM record_rejects "
                "WHERE return_id = :loaded ORDER BY pos"
            ),
            {"loaded": loaded},
            execution_options={"stream_results": True, "yield_per": 10_000},
        )
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(REJECT_HEADER)
            for rows in result.partitions():
                writer.writerows(rows)
