"""Loading a school census extract into the register: streamed, set-based, resumable.

A run goes through three phases, each committed in chunks with a high-water mark in
``census_runs`` written in the same transaction as the chunk's work, so a process killed at
any instant loses or repeats nothing: the next ``load`` of the same file (same content hash
and academic year) carries on from the marks.

1. **Staging**: the file is streamed (memory bounded whatever its size); each row is
   validated and its matching keys computed in Python exactly as a registration would store
   them (memoised key functions), and a ULN is drawn for it (in bulk per chunk); the chunk
   goes into ``census_rows`` with ``staged_lines`` (on PostgreSQL by ``COPY`` on a second
   thread while the next chunk is parsed).
2. **Preparing** (one statement each, over the whole file): a UPN seen on an earlier line is
   rejected; a row with the same identity (names, birth date, gender, postcode keys) as an
   earlier row is the same child under another UPN and follows that row (``leader_line``).
3. **Settling**, chunk by chunk in line order, one transaction each (with ``settled_line``):
   a UPN already linked to a learner is *linked*; a row whose identity is held by exactly one
   live learner, with no other learner sharing its family name, birth date and postcode, is
   the engine's exact match and *matched* (one join); a row no candidate of which the
   engine could return is *new* (on PostgreSQL proved set-based by ``screening.Screen``; on
   SQLite when the register was empty); only the rest go through the matching engine in
   Python (``ScoringMatcher.scored_many`` / ``decide``; on PostgreSQL a share of them on the
   screening's thread, ``screening.ScreensAhead``): exact → matched, none → new,
   possible or too many → *possible* (not registered, reported). New rows become learners in one
   ``INSERT … SELECT``; every UPN with a learner is upserted into ``census_pupils``; every
   ULN issued is audited (rows as ``audit.record`` writes them, by one ``INSERT … SELECT``)
   in the same transaction. On PostgreSQL the passes are fewer (``_Chunk.settle``): the
   linked rows' ``census_pupils`` rows are updated in the statement that finds them, a chunk
   with nothing pending skips the matching, and new learners are inserted and their rows
   marked in one statement.

Rows are matched against the register as it stood when the run started
(``register_high_id``), plus rows of the same file with the same identity: two pupils of one
file are never each other's "possible match" (twins stay two children, whatever the chunk
boundaries), and the outcome does not depend on the order chunks happen to be settled in.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import queue
import secrets
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sqlalchemy import Date, DateTime, bindparam, case, insert, literal, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from miap.server.census import pupils
from miap.server.census.screening import (
    CHUNK_ROWS,
    PENDING,
    SEARCHED,
    Screened,
    ScreensAhead,
    engine_answers,
    planner,
)
from miap.server.matching.engine import ScoringMatcher
from miap.server.matching.normalise import UNKNOWN_POSTCODE
from miap.server.progress import ProgressFactory, silent
from miap.server.register import audit
from miap.server.register.identifiers import random_uln
from miap.server.register.learners import IDENTITY_CONSTRAINT, ULN_CONSTRAINT
from miap.storage.constraints import violated_constraint
from miap.storage.engine import Database
from miap.storage.models import AuditEntry, CensusRow, CensusRun, Learner, utcnow

OUTCOMES = ("new", "linked", "matched", "possible", "rejected")
#: Outcomes whose UPN ends up linked to a learner.
LINKING = ("new", "linked", "matched")
#: Rows per staging transaction (one COPY on PostgreSQL, written on a second thread while
#: the next chunk is parsed; two chunks queued at most, so memory stays bounded).
CHUNK = {"postgresql": 50_000, "sqlite": 20_000}
#: Rows per settling transaction (all set-based but the engine's leftovers; bigger chunks mean
#: fewer statements and better join plans on PostgreSQL). ``--chunk`` sets both.
SETTLE_CHUNK = {"postgresql": 250_000, "sqlite": 20_000}
#: Staged rows kept after a run is done (for the reject file of a later identical load).
KEPT = ("rejected", "possible")

#: The staging table's columns as a load writes them: the run, a pupil's staged values
#: (``pupils.STAGED``), then what settling decides.
STAGE_COLUMNS = ("run_id", *pupils.STAGED, "uln", "outcome", "reason")
#: Learner columns written from a staged row (the rest are constants or NULL).
_FROM_STAGE = (
    "uln",
    "given_name",
    "middle_other_name",
    "family_name",
    "preferred_given_name",
    "postcode",
    "date_of_birth",
    "gender",
    "given_key",
    "family_key",
    "postcode_key",
    "given_sound",
    "family_sound",
)
#: The NULL columns of a rejected row, between its line and UPN and its outcome and reason.
_REJECTED_GAP = (None,) * (len(STAGE_COLUMNS) - 5)
_IDENTITY = ("given_key", "family_key", "date_of_birth", "gender", "postcode_key")
_UNKNOWN_KEY = UNKNOWN_POSTCODE  # ZZ999ZZ


class CensusError(Exception):
    """A refusal to load (bad file, another load of it running); nothing was changed."""


@dataclass
class Summary:
    run_id: int
    rows: int
    new: int
    linked: int
    matched: int
    possible: int
    rejected: int
    #: ``loaded``, ``resumed`` (an interrupted run finished) or ``already loaded``.
    state: str
    seconds: float = 0.0
    #: Seconds per phase this process ran (``staging``, ``preparing``, ``settling``, ``finishing``).
    phases: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"{self.rows:,} rows: {self.new:,} new, {self.linked:,} linked, "
            f"{self.matched:,} matched, {self.possible:,} possible, {self.rejected:,} rejected"
        )


def academic_year(value: str | None, today: dt.date | None = None) -> str:
    """``2026/27`` from ``2026``, ``2026/27`` or ``2026-27``; the current one when None
    (an academic year starts on 1 September)."""
    if value is None:
        today = today or dt.date.today()
        start = today.year if today.month >= 9 else today.year - 1
    else:
        text_value = value.strip()
        head = text_value[:4]
        if not head.isdigit() or text_value[4:] not in (
            "",
            f"/{(int(head) + 1) % 100:02d}",
            f"-{(int(head) + 1) % 100:02d}",
        ):
            raise CensusError(f"academic year {value!r}: give it as 2026 or 2026/27")
        start = int(head)
    return f"{start}/{(start + 1) % 100:02d}"


def content_hash(path: Path) -> tuple[str, int]:
    """SHA-256 of the file and its number of lines (a last line without a line break too):
    the header and one record a line, unless a quoted field holds a line break."""
    digest, lines, last = hashlib.sha256(), 0, b"\n"
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
            lines += block.count(b"\n")
            last = block[-1:]
    return digest.hexdigest(), lines + (last != b"\n")


def _utf8_lines(path: Path) -> Iterator[str]:
    """The file's lines as text; a line that is not UTF-8 stops the load with its number
    (decoding line by line, so the number is exact; a BOM on the first line is allowed)."""
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise CensusError(
                    f"{path} line {number}: not UTF-8 text "
                    "(save the extract as UTF-8 and load it again)"
                ) from None


def _chunks(stream: Iterator, size: int) -> Iterator[list]:
    chunk: list = []
    for item in stream:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


#: ``uln_check_digit`` by three-digit groups of the prefix (weights 10 to 2), for drawing
#: ULNs in bulk: the check digit of prefix ``p`` is ``10 - r`` for
#: ``r = (_W[0][p // 10**6] + _W[1][p // 1000 % 1000] + _W[2][p % 1000]) % 11``, none if 0.
_W = tuple(
    tuple(sum(int(d) * w for d, w in zip(f"{n:03d}", weights, strict=True)) for n in range(1000))
    for weights in ((10, 9, 8), (7, 6, 5), (4, 3, 2))
)
_PREFIXES = 900_000_000
#: 32-bit draws below this are used (``% _PREFIXES`` is then uniform); a few % are redrawn.
_DRAW_LIMIT = (1 << 32) // _PREFIXES * _PREFIXES


def draw_ulns(count: int) -> list[str]:
    """``count`` ULNs drawn as ``random_uln`` draws them (a uniform prefix from the system's
    CSPRNG, one with no check digit skipped), but from one ``secrets.token_bytes`` call per
    batch instead of one ``randbelow`` per draw. Uniqueness is the database's job, as there."""
    hi, mid, lo = _W
    drawn: list[str] = []
    while len(drawn) < count:
        wanted = count - len(drawn)
        random_bytes = secrets.token_bytes(4 * (wanted + wanted // 8 + 4))
        for (value,) in struct.iter_unpack(">I", random_bytes):
            if value >= _DRAW_LIMIT:
                continue
            prefix = 100_000_000 + value % _PREFIXES
            r = (hi[prefix // 1_000_000] + mid[prefix // 1000 % 1000] + lo[prefix % 1000]) % 11
            if r:
                drawn.append(f"{prefix}{10 - r}")
                if len(drawn) == count:
                    break
    return drawn


class _Copier:
    """``COPY`` of staged chunks on a second thread (its own connection), each with its
    high-water mark in the same transaction, while the caller parses the next chunk."""

    def __init__(self, db: Database) -> None:
        self._connection = db.engine.raw_connection()
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="census-copy", daemon=True)
        self._thread.start()

    def put(self, run_id: int, payload: str, staged: int) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((run_id, payload, staged))

    def close(self, failed: bool) -> None:
        """Wait for what is queued to be written (each chunk with its mark, so a chunk left
        unwritten is simply staged again next time); raise the writer's error, if any, unless
        the caller is failing already."""
        self._queue.put(None)
        self._thread.join()
        self._connection.close()
        if self._error is not None and not failed:
            raise self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain, so the producer never blocks
            run_id, payload, staged = item
            try:
                with self._connection.cursor() as cursor:
                    cursor.copy_expert(
                        f"COPY census_rows ({', '.join(STAGE_COLUMNS)}) FROM STDIN "
                        "WITH (FORMAT csv)",
                        io.StringIO(payload),
                    )
                    cursor.execute(
                        "UPDATE census_runs SET staged_lines = %s WHERE id = %s",
                        (staged, run_id),
                    )
                self._connection.commit()
            except BaseException as error:  # noqa: BLE001 - raised in the producer's thread
                self._error = error
                try:
                    self._connection.rollback()
                except Exception:  # noqa: BLE001, S110 - the connection is going anyway
                    pass


class CensusLoad:
    """One ``miap census load``; see the module docstring."""

    def __init__(
        self,
        db: Database,
        path: Path,
        year: str,
        matcher: ScoringMatcher | None = None,
        progress: ProgressFactory = silent,
        chunk: int | None = None,
    ) -> None:
        self.db = db
        self.path = Path(path)
        self.year = year
        self.matcher = matcher or ScoringMatcher()
        self.progress = progress
        self.postgres = db.dialect == "postgresql"
        self.chunk = chunk or CHUNK.get(db.dialect, 20_000)
        self.settle_chunk = chunk or SETTLE_CHUNK.get(db.dialect, 20_000)
        self.today = dt.date.today()
        #: Seconds per phase of this process (staging, preparing, settling, finishing).
        self.timings: dict[str, float] = {}

    # -- the run --------------------------------------------------------------------------

    def run(self) -> Summary:
        started = time.perf_counter()
        digest, lines = content_hash(self.path)
        lock = self._lock(digest)
        screens = None
        try:
            run, resumed = self._run_row(digest)
            if run.state == "done":
                return self._summary(run, "already loaded", started)
            records = run.total_lines if run.total_lines is not None else max(lines - 1, 0)
            register_empty = self._register_empty(run)
            # On PostgreSQL, against a register holding learners, the screening of the
            # chunks starts now: each as soon as its rows are staged (``ScreensAhead``).
            screens = self._screens(run, register_empty, records)
            if run.state == "staging":
                self._timed("staging", self._stage, run, records)
                self._timed("preparing", self._prepare, run)
            if screens is not None and screens.chunks != self._settle_chunks(
                run, run.total_lines or 0
            ):
                # the file held fewer records than lines (a quoted field with a line break):
                # screened again in the chunks settled
                screens.close()
                screens = self._screens(run, register_empty, run.total_lines or 0)
            self._timed("settling", self._settle, run, register_empty, screens)
            self._timed("finishing", self._finish, run)
            return self._summary(run, "resumed" if resumed else "loaded", started)
        finally:
            if screens is not None:
                screens.close()
            if lock is not None:
                self._unlock(lock, digest)

    def _timed(self, phase: str, step: Callable, *args: object) -> None:
        started = time.perf_counter()
        try:
            step(*args)
        finally:
            self.timings[phase] = time.perf_counter() - started

    def _lock(self, digest: str):  # noqa: ANN202 - a DBAPI connection or None
        """On PostgreSQL, one load of a file at a time (a session advisory lock)."""
        if not self.postgres:
            return None
        connection = self.db.engine.raw_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (int(digest[:15], 16),))
            (taken,) = cursor.fetchone()
        connection.commit()
        if not taken:
            connection.close()
            raise CensusError("another load of this file is running")
        return connection

    @staticmethod
    def _unlock(connection, digest: str) -> None:  # noqa: ANN001
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (int(digest[:15], 16),))
            connection.commit()
        finally:
            connection.close()

    def _run_row(self, digest: str) -> tuple[CensusRun, bool]:
        key = (CensusRun.content_hash == digest, CensusRun.academic_year == self.year)
        with self.db.transaction() as session:
            run = session.scalars(select(CensusRun).where(*key)).first()
            if run is not None:
                return run, run.state != "done"
            high = session.scalar(text("SELECT COALESCE(MAX(id), 0) FROM learners"))
            run = CensusRun(
                content_hash=digest,
                academic_year=self.year,
                file_name=self.path.name[:255],
                state="staging",
                staged_lines=0,
                settled_line=1,
                register_high_id=high,
                new=0,
                linked=0,
                matched=0,
                possible=0,
                rejected=0,
            )
            session.add(run)
        return run, False

    def _summary(self, run: CensusRun, state: str, started: float) -> Summary:
        return Summary(
            run_id=run.id,
            rows=run.total_lines or 0,
            new=run.new,
            linked=run.linked,
            matched=run.matched,
            possible=run.possible,
            rejected=run.rejected,
            state=state,
            seconds=time.perf_counter() - started,
            phases=dict(self.timings),
        )

    # -- 1. staging -----------------------------------------------------------------------

    def _records(self, skip: int) -> Iterator[pupils.Pupil | pupils.Rejected]:
        reader = csv.reader(_utf8_lines(self.path))
        try:
            header = next(reader, None)
            if header is None:
                raise CensusError(f"{self.path} is empty")
            try:
                pupils.check_header(header)
            except pupils.CensusFormatError as error:
                raise CensusError(str(error)) from None
            for index, fields in enumerate(reader):
                if index < skip:
                    continue
                if not fields:  # a blank line
                    yield pupils.Rejected(index + 2, None, "empty line")
                    continue
                yield pupils.parse(index + 2, fields, self.today)
        except csv.Error as error:
            raise CensusError(f"{self.path} line {reader.line_num}: {error}") from None

    def _stage(self, run: CensusRun, estimate: int) -> None:
        done = run.staged_lines
        bar = self.progress("read", max(estimate, done), done)
        copier = _Copier(self.db) if self.postgres else None
        failed = True
        try:
            for chunk in _chunks(self._records(done), self.chunk):
                ulns = iter(draw_ulns(sum(isinstance(r, pupils.Pupil) for r in chunk)))
                rows = [self._stage_row(run.id, record, ulns) for record in chunk]
                if copier is not None:
                    # CSV: an unquoted empty field is NULL; staged rows never hold empty strings.
                    buffer = io.StringIO()
                    csv.writer(buffer, lineterminator="\n").writerows(rows)
                    copier.put(run.id, buffer.getvalue(), done + len(rows))
                else:
                    self._insert_rows(run.id, rows, done + len(rows))
                done += len(rows)
                bar.update(len(rows))
            failed = False
        finally:
            if copier is not None:
                copier.close(failed)
            bar.close()
        with self.db.transaction() as session:
            session.execute(
                text("UPDATE census_runs SET total_lines = :n WHERE id = :r"),
                {"n": done, "r": run.id},
            )
        run.staged_lines = run.total_lines = done

    def _stage_row(
        self, run_id: int, record: pupils.Pupil | pupils.Rejected, ulns: Iterator[str]
    ) -> tuple:
        """The ``STAGE_COLUMNS`` of one record (a valid pupil takes the next of ``ulns``)."""
        if isinstance(record, pupils.Rejected):
            reason = record.reason[:255]
            return (run_id, record.line, record.upn, *_REJECTED_GAP, "rejected", reason)
        values = pupils.staged_values(record, self.matcher.variants)
        return (run_id, *values, next(ulns), None, None)

    def _insert_rows(self, run_id: int, rows: list[tuple], staged: int) -> None:
        position = STAGE_COLUMNS.index("date_of_birth")
        rows = [
            row[:position] + (row[position] and row[position].isoformat(),) + row[position + 1 :]
            for row in rows
        ]
        marks = ", ".join("?" * len(STAGE_COLUMNS))
        with self.db.engine.begin() as connection:
            connection.exec_driver_sql(
                f"INSERT INTO census_rows ({', '.join(STAGE_COLUMNS)}) VALUES ({marks})", rows
            )
            connection.exec_driver_sql(
                "UPDATE census_runs SET staged_lines = ? WHERE id = ?", (staged, run_id)
            )

    # -- 2. preparing ---------------------------------------------------------------------

    def _prepare(self, run: CensusRun) -> None:
        """Repeated UPNs rejected, same-identity rows pointed at their first line; one
        transaction, which also moves the run to ``settling``."""
        with self.db.transaction() as session:
            values = {"r": run.id}
            if self.postgres:
                # The planner needs the staged rows' statistics (autovacuum has not seen them).
                session.execute(text("ANALYZE census_rows"))
            # Each window keeps only the later lines (few), so the UPDATE joins few rows.
            later = (
                "FROM (SELECT line, first_line FROM (SELECT line, MIN(line) OVER (PARTITION BY "
                "{by}) AS first_line FROM census_rows WHERE run_id = :r AND outcome IS NULL) w "
                "WHERE line > first_line) d "
                "WHERE census_rows.run_id = :r AND census_rows.line = d.line"
            )
            session.execute(
                text(
                    "UPDATE census_rows SET outcome = 'rejected', "
                    "reason = 'UPN ' || census_rows.upn || ' repeated: first on line ' "
                    "|| d.first_line " + later.format(by="upn")
                ),
                values,
            )
            session.execute(
                text(
                    "UPDATE census_rows SET leader_line = d.first_line "
                    + later.format(by=", ".join(_IDENTITY))
                ),
                values,
            )
            session.execute(text("UPDATE census_runs SET state = 'settling' WHERE id = :r"), values)
        run.state = "settling"

    # -- 3. settling ----------------------------------------------------------------------

    def _settle_chunks(self, run: CensusRun, records: int) -> list[tuple[int, int]]:
        """Lines ``(low, high]`` of each settling transaction, for ``records`` staged rows."""
        last = records + 1
        return [
            (low, min(low + self.settle_chunk, last))
            for low in range(run.settled_line, last, self.settle_chunk)
        ]

    def _register_empty(self, run: CensusRun) -> bool:
        with self.db.transaction() as session:
            return not session.scalar(
                text("SELECT COUNT(*) FROM (SELECT 1 FROM learners WHERE id <= :h LIMIT 1) x"),
                {"h": run.register_high_id or 0},
            )

    def _screens(self, run: CensusRun, register_empty: bool, records: int) -> ScreensAhead | None:
        """The screening of the chunks of ``records`` rows ahead of their settling
        (PostgreSQL, a register holding learners when the run began; otherwise nothing to
        screen)."""
        if not self.postgres or register_empty:
            return None
        values = {"r": run.id, "high_id": run.register_high_id or 0}
        return ScreensAhead(self.db, self.matcher, values, self._settle_chunks(run, records))

    def _settle(self, run: CensusRun, register_empty: bool, screens: ScreensAhead | None) -> None:
        last = (run.total_lines or 0) + 1
        done = run.settled_line
        bar = self.progress("settle", last - 1, done - 1)
        try:
            for low, high in self._settle_chunks(run, run.total_lines or 0):
                screened = None if screens is None else screens.screened(low, high)
                with self.db.transaction() as session:
                    marked = session.scalar(
                        select(CensusRun.settled_line).where(CensusRun.id == run.id)
                    )
                    if marked != low:
                        raise CensusError("another load of this file is running")
                    _Chunk(self, session, run, low, high, register_empty, screened).settle()
                bar.update(high - low)
                run.settled_line = high
        finally:
            bar.close()

    # -- the end --------------------------------------------------------------------------

    def _finish(self, run: CensusRun) -> None:
        with self.db.transaction() as session:
            counts = dict.fromkeys(OUTCOMES, 0)
            for outcome, count in session.execute(
                text(
                    "SELECT outcome, COUNT(*) FROM census_rows WHERE run_id = :r GROUP BY outcome"
                ),
                {"r": run.id},
            ):
                if outcome not in counts:
                    raise RuntimeError(f"census run {run.id}: {count} rows left as {outcome}")
                counts[outcome] = count
            session.execute(
                text(
                    "UPDATE census_runs SET state = 'done', finished_at = :now, new = :new, "
                    "linked = :linked, matched = :matched, possible = :possible, "
                    "rejected = :rejected WHERE id = :r"
                ).bindparams(bindparam("now", type_=DateTime)),
                {"now": utcnow(), "r": run.id, **counts},
            )
            session.execute(
                text(
                    "DELETE FROM census_rows WHERE run_id = :r "
                    f"AND outcome NOT IN ({', '.join(repr(o) for o in KEPT)})"
                ),
                {"r": run.id},
            )
        run.state = "done"
        for outcome, count in counts.items():
            setattr(run, outcome, count)


def write_rejects(db: Database, run_id: int, out: TextIO) -> int:
    """The run's rejected and possible rows: line number, UPN, outcome and reason."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("Line", "UPN", "Outcome", "Reason"))
    written = 0
    with db.reading() as session:
        rows = session.execute(
            text(
                "SELECT line, upn, outcome, reason FROM census_rows "
                "WHERE run_id = :r AND outcome IN ('rejected', 'possible') ORDER BY line"
            ),
            {"r": run_id},
        )
        for row in rows:
            writer.writerow(tuple(row))
            written += 1
    return written


def export(db: Database, laestab: str, out: TextIO) -> int:
    """``UPN,ULN`` for every pupil the school ``laestab`` last returned (a merged learner's
    master ULN; a withdrawn ULN is left out)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("UPN", "ULN"))
    written = 0
    # Streamed in batches: PostgreSQL's server-side cursor needs a transaction, which the
    # autocommit read engine has not; SQLite reads a snapshot on the read engine.
    engine = db.engine if db.dialect == "postgresql" else db.read_engine
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT p.upn, COALESCE(m.uln, l.uln) FROM census_pupils p "
                "JOIN learners l ON l.id = p.learner_id "
                "LEFT JOIN learners m ON m.id = l.merged_into_id "
                "WHERE p.laestab = :school AND l.deleted_at IS NULL ORDER BY p.upn"
            ).execution_options(yield_per=10_000),
            {"school": laestab},
        )
        for row in rows:
            writer.writerow(tuple(row))
            written += 1
    return written


class _Chunk:
    """Settling lines ``(low, high]`` of a run in one transaction."""

    def __init__(
        self,
        load: CensusLoad,
        session: Session,
        run: CensusRun,
        low: int,
        high: int,
        register_empty: bool,
        screened: Screened | None = None,
    ) -> None:
        self.load = load
        self.session = session
        self.run = run
        self.values = {"r": run.id, "lo": low, "hi": high, "high_id": run.register_high_id or 0}
        self.register_empty = register_empty
        #: PostgreSQL: what ``screening.ScreensAhead`` found (lines proved new, answers).
        self.screened = screened
        self.where = CHUNK_ROWS

    def execute(self, sql: str, **extra: object):  # noqa: ANN201
        return self.session.execute(text(sql), {**self.values, **extra})

    def settle(self) -> None:
        if self.load.postgres:
            self._linked_postgres()
            if not self._settle_postgres():
                # every row linked or rejected: no learner, no follower, no UPN left to link
                self.execute("UPDATE census_runs SET settled_line = :hi WHERE id = :r")
                return
        else:
            self._linked()
            if not self.register_empty:
                self._exact()
            self._clearly_new()
            if not self.register_empty:
                self._match_the_rest()
            self._register_new()
        self._followers()
        # On PostgreSQL the linked rows' UPNs were updated with them (``_linked_postgres``).
        self._link_upns(("new", "matched") if self.load.postgres else LINKING)
        self._audit()
        self.execute("UPDATE census_runs SET settled_line = :hi WHERE id = :r")

    def _settle_postgres(self) -> bool:
        """As on SQLite, with fewer passes over the chunk: nothing is tried on a chunk with no
        row left pending (a reload), and in an empty register the pending rows are registered
        and marked ``new`` in the one statement that inserts their learners. False when no
        row was left pending at all (followers included): the rest of ``settle`` has nothing
        to do."""
        pending, waiting = self.execute(
            "SELECT COUNT(*) FILTER (WHERE census_rows.leader_line IS NULL), COUNT(*) "
            f"FROM census_rows WHERE {self.where} AND census_rows.outcome IS NULL"
        ).one()
        if pending and self.register_empty:
            self._register_set_based(PENDING)
        elif pending:
            # a row proved new has no exact candidate: the exact join reads only the others
            self._clearly_new()
            self._exact()
            self._match_the_rest()
            self._register_set_based("census_rows.outcome = 'new'")
        return bool(waiting)

    def _linked(self) -> None:
        """UPNs already linked to a live learner (a merged one's master)."""
        self.execute(
            "UPDATE census_rows SET outcome = 'linked', "
            "learner_id = COALESCE(l.merged_into_id, l.id) "
            "FROM census_pupils p JOIN learners l ON l.id = p.learner_id "
            f"WHERE {self.where} AND census_rows.outcome IS NULL "
            "AND p.upn = census_rows.upn AND l.deleted_at IS NULL"
        )

    def _linked_postgres(self) -> None:
        """``_linked``, and the UPN's ``census_pupils`` row brought up to this run (what
        ``_link_upns`` would have upserted for it), in one statement."""
        self.session.execute(
            text(
                "WITH linked AS (UPDATE census_rows SET outcome = 'linked', "
                "learner_id = COALESCE(l.merged_into_id, l.id) "
                "FROM census_pupils p JOIN learners l ON l.id = p.learner_id "
                f"WHERE {self.where} AND census_rows.outcome IS NULL "
                "AND p.upn = census_rows.upn AND l.deleted_at IS NULL "
                "RETURNING census_rows.upn, census_rows.learner_id, census_rows.laestab, "
                "census_rows.nc_year) "
                "UPDATE census_pupils SET learner_id = linked.learner_id, "
                "laestab = linked.laestab, nc_year = linked.nc_year, academic_year = :year, "
                "last_run_id = :r, updated_at = :now FROM linked "
                "WHERE census_pupils.upn = linked.upn"
            ).bindparams(bindparam("now", type_=DateTime)),
            {**self.values, "year": self.load.year, "now": utcnow()},
        )

    def _exact(self) -> None:
        """The identity held by one live learner, and nobody else at that family name, birth
        date and postcode: the engine's exact match (its only exact candidate)."""
        self.execute(
            "UPDATE census_rows SET outcome = 'matched', learner_id = l.id FROM learners l "
            f"WHERE {self.where} AND census_rows.outcome IS NULL "
            "AND census_rows.leader_line IS NULL "
            f"AND census_rows.postcode_key <> '{_UNKNOWN_KEY}' "
            + "".join(f"AND l.{key} = census_rows.{key} " for key in _IDENTITY)
            + "AND l.id <= :high_id AND l.merged_into_id IS NULL AND l.deleted_at IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM learners o WHERE o.postcode_key = l.postcode_key "
            "AND o.date_of_birth = l.date_of_birth AND o.family_key = l.family_key "
            "AND o.id <> l.id AND o.id <= :high_id "
            "AND o.merged_into_id IS NULL AND o.deleted_at IS NULL)"
        )

    def _clearly_new(self) -> None:
        """Rows no candidate of which the engine could return: every row when the register
        was empty; on PostgreSQL, those ``screening.ScreensAhead`` proved so (on SQLite
        the engine answers every row)."""
        if self.register_empty:
            self.execute(f"UPDATE census_rows SET outcome = 'new' WHERE {self.where} AND {PENDING}")
        elif self.screened is not None and self.screened.new:
            self.execute(
                f"UPDATE census_rows SET outcome = 'new' WHERE {self.where} AND {PENDING} "
                "AND census_rows.line = ANY(CAST(:proved AS integer[]))",
                proved=sorted(self.screened.new),
            )

    def _match_the_rest(self) -> None:
        """The engine, in Python, for rows with a candidate and no exact answer yet (those
        ``ScreensAhead`` answered already take its answer)."""
        rows = self.session.execute(
            text(
                f"SELECT {SEARCHED} FROM census_rows WHERE {self.where} AND outcome IS NULL "
                "AND leader_line IS NULL ORDER BY line"
            ).columns(date_of_birth=Date),
            self.values,
        ).all()
        answered = {} if self.screened is None else self.screened.answers
        left = [row for row in rows if row.line not in answered]
        answers = {
            **answered,
            **engine_answers(self.session, self.load.matcher, left, self.values["high_id"]),
        }
        self._record([(*answers[row.line], row.line) for row in rows])

    def _record(self, updates: list[tuple[str, int | None, str | None, int]]) -> None:
        """Each ``(outcome, learner id, reason, line)``: on PostgreSQL in one ``UPDATE …
        FROM unnest(…)`` (one round trip, where an executemany makes one per row and cost
        as much as the engine's scoring); elsewhere one executemany."""
        if not updates:
            return
        if self.load.postgres:
            outcomes, ids, reasons, lines = (list(column) for column in zip(*updates, strict=True))
            self.execute(
                "UPDATE census_rows SET outcome = u.outcome, learner_id = u.id, "
                "reason = u.reason FROM unnest(CAST(:outcomes AS varchar[]), "
                "CAST(:ids AS bigint[]), CAST(:reasons AS varchar[]), CAST(:lines AS integer[])) "
                "AS u(outcome, id, reason, line) "
                "WHERE census_rows.run_id = :r AND census_rows.line = u.line",
                outcomes=outcomes,
                ids=ids,
                reasons=reasons,
                lines=lines,
            )
            return
        self.session.execute(
            text(
                "UPDATE census_rows SET outcome = :o, learner_id = :id, reason = :reason "
                "WHERE run_id = :r AND line = :line"
            ),
            [
                {"o": o, "id": i, "reason": reason, "line": line, "r": self.run.id}
                for o, i, reason, line in updates
            ],
        )

    # -- registering ----------------------------------------------------------------------

    def _insert_sql(self, only_line: bool) -> str:
        constants = pupils.CONSTANT_COLUMNS
        columns = [*_FROM_STAGE, *constants, "version", "duplicate_count"]
        columns += ["created_at", "updated_at"]
        values = [f"census_rows.{c}" for c in _FROM_STAGE]
        values += [f"'{value}'" for value in constants.values()]
        values += ["1", "0", ":now", ":now"]
        where = "census_rows.run_id = :r AND census_rows.line = :line" if only_line else self.where
        return (
            f"INSERT INTO learners ({', '.join(columns)}) SELECT {', '.join(values)} "
            f"FROM census_rows WHERE {where} AND census_rows.outcome = 'new' "
            "ORDER BY census_rows.line"
        )

    def _register_set_based(self, rows: str) -> None:
        """PostgreSQL: a learner for every row matching ``rows`` (pending rows of an empty
        register, or rows marked ``new`` already) with a ULN no learner holds, and the row
        marked ``new`` with its learner, in one statement; if that trips over a learner
        registered by another route meanwhile, the rows are marked and registered as on
        SQLite (``_register_new``)."""
        self._fresh_ulns_sql(rows)
        constants = pupils.CONSTANT_COLUMNS
        columns = [*_FROM_STAGE, *constants, "version", "duplicate_count", "created_at"]
        columns += ["updated_at"]
        values = [f"census_rows.{c}" for c in _FROM_STAGE]
        values += [f"'{value}'" for value in constants.values()]
        values += ["1", "0", ":now", ":now"]
        statement = text(
            f"WITH made AS (INSERT INTO learners ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM census_rows WHERE {self.where} AND {rows} "
            "ORDER BY census_rows.line RETURNING id, uln) "
            "UPDATE census_rows SET outcome = 'new', learner_id = made.id FROM made "
            f"WHERE {self.where} AND {rows} AND census_rows.uln = made.uln"
        ).bindparams(bindparam("now", type_=DateTime))
        try:
            with self.session.begin_nested():
                # The planner's statistics (taken before any outcome was set) misjudge the
                # join with the statement's own output: the chunk's rows are hashed.
                with planner(
                    self.session, (("enable_nestloop", "off"), ("enable_mergejoin", "off"))
                ):
                    self.session.execute(statement, {**self.values, "now": utcnow()})
        except IntegrityError:
            if rows == PENDING:
                self.execute(
                    f"UPDATE census_rows SET outcome = 'new' WHERE {self.where} AND {rows}"
                )
            self._register_new()

    def _fresh_ulns_sql(self, rows: str) -> None:
        """Redraw, until there is none, the ULN of every row to register that a learner holds
        or an earlier row of the chunk to register was given (found in the database; after
        the first pass only the rows holding a redrawn ULN are looked at)."""
        redrawn: list[int] | None = None
        while True:
            only = (
                ""
                if redrawn is None
                else "AND c.uln IN (SELECT uln FROM census_rows "
                "WHERE run_id = :r AND line = ANY(:redrawn)) "
            )
            clash = (
                self.execute(
                    "SELECT line FROM (SELECT census_rows.line, census_rows.uln, row_number() "
                    "OVER (PARTITION BY census_rows.uln ORDER BY census_rows.line) AS n "
                    f"FROM census_rows WHERE {self.where} AND {rows}) c "
                    "WHERE (c.n > 1 OR EXISTS (SELECT 1 FROM learners l WHERE l.uln = c.uln)) "
                    f"{only}",
                    redrawn=redrawn or [],
                )
                .scalars()
                .all()
            )
            if not clash:
                return
            self.session.execute(
                text("UPDATE census_rows SET uln = :uln WHERE run_id = :r AND line = :line"),
                [
                    {"r": self.run.id, "line": line, "uln": uln}
                    for line, uln in zip(clash, draw_ulns(len(clash)), strict=True)
                ],
            )
            redrawn = clash

    def _register_new(self) -> None:
        """A learner for every new row, with the ULN drawn at staging (or a fresh one where
        that ULN is taken), in one INSERT … SELECT; row by row only if that one trips over a
        learner registered by another route meanwhile."""
        self._fresh_ulns()
        statement = text(self._insert_sql(False)).bindparams(bindparam("now", type_=DateTime))
        try:
            with self.session.begin_nested():
                self.session.execute(statement, {**self.values, "now": utcnow()})
        except IntegrityError:
            self._register_one_by_one()
        self.execute(
            "UPDATE census_rows SET learner_id = l.id FROM learners l "
            f"WHERE {self.where} AND census_rows.outcome = 'new' AND l.uln = census_rows.uln"
        )

    def _fresh_ulns(self) -> None:
        """Redraw the ULNs of new rows that another learner (or another new row) holds."""
        while True:
            mine = self.execute(
                f"SELECT line, uln FROM census_rows WHERE {self.where} AND outcome = 'new'"
            ).all()
            seen: set[str] = set()
            clash = set()
            for line, uln in mine:
                if uln in seen:
                    clash.add(line)
                seen.add(uln)
            clash.update(
                line
                for (line,) in self.execute(
                    "SELECT census_rows.line FROM census_rows JOIN learners l "
                    f"ON l.uln = census_rows.uln WHERE {self.where} "
                    "AND census_rows.outcome = 'new'"
                )
            )
            if not clash:
                return
            updates = []
            for line in sorted(clash):
                uln = random_uln()
                while uln in seen:
                    uln = random_uln()
                seen.add(uln)
                updates.append({"r": self.run.id, "line": line, "uln": uln})
            self.session.execute(
                text("UPDATE census_rows SET uln = :uln WHERE run_id = :r AND line = :line"),
                updates,
            )

    def _register_one_by_one(self) -> None:
        statement = text(self._insert_sql(True)).bindparams(bindparam("now", type_=DateTime))
        lines = self.execute(
            f"SELECT line FROM census_rows WHERE {self.where} AND outcome = 'new' ORDER BY line"
        ).scalars()
        for line in list(lines):
            for _ in range(20):
                try:
                    with self.session.begin_nested():
                        self.session.execute(
                            statement, {**self.values, "line": line, "now": utcnow()}
                        )
                    break
                except IntegrityError as error:
                    broken = violated_constraint(error)
                    if broken == ULN_CONSTRAINT:
                        self.execute(
                            "UPDATE census_rows SET uln = :uln WHERE run_id = :r AND line = :line",
                            uln=random_uln(),
                            line=line,
                        )
                        continue
                    if broken != IDENTITY_CONSTRAINT:
                        raise
                    self._identity_taken(line)
                    break

    def _identity_taken(self, line: int) -> None:
        """The row's identity is held already (registered by another route during the load,
        or a merged or withdrawn learner): link to it, its master, or reject."""
        holder = self.execute(
            "SELECT l.id, l.merged_into_id, l.deleted_at FROM learners l JOIN census_rows "
            "ON " + " AND ".join(f"l.{key} = census_rows.{key}" for key in _IDENTITY) + " "
            "WHERE census_rows.run_id = :r AND census_rows.line = :line",
            line=line,
        ).first()
        if holder is None:
            raise RuntimeError(f"census line {line}: identity clash with nobody")
        if holder.deleted_at is not None:
            outcome, learner, reason = "rejected", None, "the pupil's details are a withdrawn ULN's"
        else:
            outcome, learner, reason = "matched", holder.merged_into_id or holder.id, None
        self.execute(
            "UPDATE census_rows SET outcome = :o, learner_id = :id, reason = :reason "
            "WHERE run_id = :r AND line = :line",
            o=outcome,
            id=learner,
            reason=reason,
            line=line,
        )

    def _followers(self) -> None:
        """The same child under another UPN takes the first row's outcome and learner; with
        no postcode the identity is too thin to say so, and the row is a possible match."""
        self.execute(
            "UPDATE census_rows SET "
            "outcome = CASE WHEN ld.outcome NOT IN ('new', 'linked', 'matched') THEN ld.outcome "
            f"  WHEN census_rows.postcode_key = '{_UNKNOWN_KEY}' THEN 'possible' "
            "  ELSE 'matched' END, "
            "learner_id = CASE WHEN ld.outcome IN ('new', 'linked', 'matched') "
            f"  AND census_rows.postcode_key <> '{_UNKNOWN_KEY}' THEN ld.learner_id END, "
            "reason = CASE WHEN ld.outcome IN ('new', 'linked', 'matched') "
            f"  AND census_rows.postcode_key <> '{_UNKNOWN_KEY}' THEN NULL "
            "  ELSE 'same names, birth date and gender as line ' || ld.line END "
            f"FROM census_rows ld WHERE {self.where} AND census_rows.outcome IS NULL "
            "AND census_rows.leader_line IS NOT NULL "
            "AND ld.run_id = census_rows.run_id AND ld.line = census_rows.leader_line"
        )

    def _link_upns(self, outcomes: tuple[str, ...]) -> None:
        self.session.execute(
            text(
                "INSERT INTO census_pupils (upn, learner_id, laestab, nc_year, academic_year, "
                "first_run_id, last_run_id, updated_at) "
                "SELECT upn, learner_id, laestab, nc_year, :year, :r, :r, :now FROM census_rows "
                f"WHERE {self.where} AND outcome IN ({', '.join(repr(o) for o in outcomes)}) "
                "ON CONFLICT (upn) DO UPDATE SET learner_id = excluded.learner_id, "
                "laestab = excluded.laestab, nc_year = excluded.nc_year, "
                "academic_year = excluded.academic_year, last_run_id = excluded.last_run_id, "
                "updated_at = excluded.updated_at"
            ).bindparams(bindparam("now", type_=DateTime)),
            {**self.values, "year": self.load.year, "now": utcnow()},
        )

    def _audit(self) -> None:
        """Every learner the chunk changed, audited as an administrator's command is (route
        ``CLI``, the outcome in words, one row per ULN, one time for the chunk's transaction):
        a ULN issued is ``REGISTERED``; a pupil matched to a learner already on the register,
        whose UPN and school are now linked to them, ``UPN_LINKED``. Rows whose UPN was
        already linked change no learner and are not audited. One ``INSERT … SELECT``."""
        rows = CensusRow.__table__.c
        learners = Learner.__table__.c
        fields = {
            "at": literal(utcnow(), DateTime),
            "request_id": literal(f"census{self.run.id}"),
            "ukprn": literal(None),
            "user_name": literal("census"),
            "route": literal(audit.CLI),
            "operation": literal("CensusLoad"),
            "outcome": case((rows.outcome == "new", "REGISTERED"), else_="UPN_LINKED"),
            "uln": learners.uln,
        }
        chosen = (
            select(*(value.label(name) for name, value in fields.items()))
            .join_from(CensusRow, Learner, learners.id == rows.learner_id)
            .where(
                rows.run_id == self.run.id,
                rows.line > self.values["lo"],
                rows.line <= self.values["hi"],
                rows.outcome.in_(("new", "matched")),
            )
            .order_by(rows.line)
        )
        self.session.execute(insert(AuditEntry).from_select(list(fields), chosen))


def load(
    db: Database,
    path: Path,
    year: str | None = None,
    matcher: ScoringMatcher | None = None,
    progress: ProgressFactory = silent,
    chunk: int | None = None,
) -> Summary:
    """Load the census extract at ``path`` (see the module docstring)."""
    return CensusLoad(db, path, academic_year(year), matcher, progress, chunk).run()
