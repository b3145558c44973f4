"""Bulk-load synthetic learners into a migrated miap database, fast.

    python bench/seed.py --db sqlite:///bench.db --count 1000000 --seed 1
    python bench/seed.py --db postgresql://postgres@127.0.0.1:5432/bench --count 1000000

Rows are exactly what a registration would store: ``Population(seed).people(count)`` through
``learners.stored_columns`` (names, matching keys, tier), with a fresh ULN each (drawn from a
seeded generator, so the same seed gives the same register). Values go through the column
types' own bind processors, so the stored text is what the ORM would have written.

Speed: the learners table's secondary indexes are dropped for the load and rebuilt after it
(one sort each instead of a million random B-tree inserts; the rebuilt index is the same
index, from the same DDL); the primary key and ULN unique constraint stay. SQLite gets
``executemany`` batches through SQLAlchemy, PostgreSQL ``COPY`` (CSV); one transaction per batch,
written on a second thread while this one generates the next batch. PostgreSQL is ANALYZEd
after. Only synthetic people: nobody generated here is real.
"""

from __future__ import annotations

import argparse
import csv
import io
import queue
import random
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from sqlalchemy import Connection, Date, DateTime, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from miap.server.admin import synth  # noqa: E402
from miap.server.admin.synth import Population  # noqa: E402
from miap.storage.engine import Database  # noqa: E402
from miap.storage.models import Learner  # noqa: E402

DEFAULT_UKPRN = "10000001"
LEARNERS = Learner.__table__

#: Secondary indexes of ``learners`` (not backing a constraint), as (name, DDL).
_SQLITE_INDEXES = (
    "SELECT name, sql FROM sqlite_master "
    "WHERE type = 'index' AND tbl_name = 'learners' AND sql IS NOT NULL"
)
_POSTGRES_INDEXES = """
    SELECT i.relname, pg_get_indexdef(i.oid)
    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
    WHERE x.indrelid = 'learners'::regclass
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
"""


@dataclass
class Seeded:
    count: int
    seconds: float  # the whole load: generation, inserts, index rebuild, ANALYZE
    index_seconds: float  # of which rebuilding the indexes (and ANALYZE)

    @property
    def rows_per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def learner_rows(count: int, seed: int, ukprn: str, taken: set[str]) -> Iterator[dict]:
    """``count`` learner rows (column -> value) for ``Population(seed)``, their ULNs unique
    among themselves and ``taken`` (which is extended); ULNs drawn from a seeded generator."""
    draw = random.Random(f"miap-bench-uln-{seed}").randrange
    return synth.learner_rows(Population(seed).people(count), ukprn, taken, draw)


class _Writer:
    """Writes batches of rows on its own thread, so generation and the database overlap.

    A batch is written with only the columns that hold a value in it (the rest stay NULL);
    rows become tuples through ``itemgetter`` and, for PostgreSQL, CSV through ``csv``: both
    in C, which matters at a million rows.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        dialect = db.engine.dialect
        self.postgres = dialect.name == "postgresql"
        # SQLite stores dates and times as text in SQLAlchemy's own format: use its processors.
        # COPY takes the text form (str) of every value.
        self.processors = {}
        if not self.postgres:
            for column in LEARNERS.c:
                processor = column.type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None and isinstance(column.type, Date | DateTime):
                    self.processors[column.name] = processor
        self.batches: queue.Queue[list[dict] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def put(self, batch: list[dict]) -> None:
        if self.error is not None:
            raise self.error
        self.batches.put(batch)

    def close(self) -> None:
        self.batches.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            while (batch := self.batches.get()) is not None:
                columns = [c for c in batch[0] if any(row[c] is not None for row in batch)]
                rows = map(itemgetter(*columns), batch)
                if self.postgres:
                    self._copy(columns, rows)
                else:
                    self._insert(columns, batch)
        except BaseException as exc:  # noqa: BLE001 - handed to the producer thread
            self.error = exc
            while self.batches.get() is not None:  # unblock the producer
                pass

    def _insert(self, columns: list[str], batch: list[dict]) -> None:
        for column in columns:
            if processor := self.processors.get(column):
                for row in batch:
                    if row[column] is not None:
                        row[column] = processor(row[column])
        sql = (
            f"INSERT INTO learners ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        )
        with self.db.engine.begin() as connection:
            connection.exec_driver_sql(sql, list(map(itemgetter(*columns), batch)))

    def _copy(self, columns: list[str], rows: Iterator[tuple]) -> None:
        # CSV: an unquoted empty field is NULL (the rows hold no empty strings).
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        buffer.seek(0)
        connection = self.db.engine.raw_connection()
        try:
            with connection.cursor() as cursor:
                cursor.copy_expert(
                    f"COPY learners ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buffer
                )
            connection.commit()
        finally:
            connection.close()


def _secondary_indexes(connection: Connection) -> list[tuple[str, str]]:
    query = _POSTGRES_INDEXES if connection.dialect.name == "postgresql" else _SQLITE_INDEXES
    return [(name, ddl) for name, ddl in connection.exec_driver_sql(query)]


def seed(
    url: str,
    count: int,
    seed: int = 0,
    ukprn: str = DEFAULT_UKPRN,
    batch: int = 20_000,
    progress: bool = True,
    rebuild_indexes: bool = True,
) -> Seeded:
    """Add ``count`` synthetic learners to the migrated database at ``url``."""
    db = Database(url)
    started = time.perf_counter()
    indexes: list[tuple[str, str]] = []
    try:
        with db.engine.begin() as connection:
            taken = set(connection.scalars(select(LEARNERS.c.uln)))
            indexes = _secondary_indexes(connection) if rebuild_indexes else []
            for name, _ in indexes:
                connection.exec_driver_sql(f"DROP INDEX {name}")
        writer = _Writer(db)
        pending: list[dict] = []
        done = 0
        for row in learner_rows(count, seed, ukprn, taken):
            pending.append(row)
            if len(pending) >= batch:
                writer.put(pending)
                done += len(pending)
                pending = []
                if progress and done % (batch * 10) == 0:
                    elapsed = time.perf_counter() - started
                    print(f"  generated {done:,} rows ({done / elapsed:,.0f} rows/s)", flush=True)
        if pending:
            writer.put(pending)
        writer.close()
    finally:
        index_started = time.perf_counter()
        try:
            _rebuild(db, indexes, progress)
        finally:
            db.dispose()
    finished = time.perf_counter()
    return Seeded(count, finished - started, finished - index_started)


def _rebuild(db: Database, indexes: list[tuple[str, str]], progress: bool) -> None:
    """Recreate the dropped indexes; ANALYZE PostgreSQL (its planner needs the statistics)."""
    postgres = db.engine.dialect.name == "postgresql"
    with db.engine.begin() as connection:
        if postgres:
            connection.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        else:
            connection.exec_driver_sql("PRAGMA cache_size = -524288")  # 512 MiB for the sorts
        for name, ddl in indexes:
            started = time.perf_counter()
            connection.exec_driver_sql(ddl)
            if progress:
                print(f"  rebuilt {name} in {time.perf_counter() - started:.1f} s", flush=True)
        if postgres:
            connection.exec_driver_sql("ANALYZE learners")


def stored_count(url: str) -> int:
    db = Database(url)
    try:
        with db.engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(LEARNERS))
    finally:
        db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="database URL (already `miap db upgrade`d)")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ukprn", default=DEFAULT_UKPRN, help="registered_by_ukprn of the rows")
    parser.add_argument("--batch", type=int, default=20_000, help="rows per transaction")
    parser.add_argument(
        "--keep-indexes",
        action="store_true",
        help="insert with every index in place instead of dropping and rebuilding them",
    )
    args = parser.parse_args(argv)
    rebuild = not args.keep_indexes
    result = seed(args.db, args.count, args.seed, args.ukprn, args.batch, rebuild_indexes=rebuild)
    print(
        f"seeded {result.count:,} learners in {result.seconds:.1f} s "
        f"({result.rows_per_second:,.0f} rows/s; indexes {result.index_seconds:.1f} s); "
        f"{stored_count(args.db):,} stored"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
