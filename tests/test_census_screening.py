"""``screening.ScreensAhead``: chunks screened on a thread of their own, each once its rows
are staged, hand the settling their results in order, or the error that stopped them
(PostgreSQL; the outcomes themselves are held to the engine's by ``test_census.py``)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import SQLAlchemyError

from miap.server.census.screening import Screened, ScreensAhead
from miap.server.matching.engine import ScoringMatcher
from miap.storage.engine import Database
from miap.storage.models import CensusRun

ONLY_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True
)


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def run_id(db) -> Iterator[int]:
    """A run staging its file: no row staged yet, none in the register before it."""
    with db.transaction() as session:
        run = CensusRun(
            content_hash=secrets.token_hex(32), academic_year="2026/27", file_name="t.csv",
            staged_lines=0, settled_line=1, register_high_id=0,
        )  # fmt: skip
        session.add(run)
        session.flush()
        run_id = run.id
    yield run_id
    with db.transaction() as session:
        session.execute(delete(CensusRun).where(CensusRun.id == run_id))


def _staged(db: Database, run_id: int, **marks: int) -> None:
    with db.transaction() as session:
        session.execute(update(CensusRun).where(CensusRun.id == run_id).values(**marks))


@ONLY_POSTGRES
def test_chunks_are_handed_over_in_order(db, run_id):
    _staged(db, run_id, staged_lines=20, total_lines=20)
    screens = ScreensAhead(db, ScoringMatcher(), {"r": run_id, "high_id": 0}, [(1, 11), (11, 21)])
    try:
        assert screens.screened(1, 11).new == set()  # the run has no rows: none screened
        with pytest.raises(RuntimeError, match=r"screened lines \(11, 21\), settling \(11, 31\)"):
            screens.screened(11, 31)
    finally:
        screens.close()


@ONLY_POSTGRES
def test_a_chunk_is_screened_once_its_rows_are_staged(db, run_id):
    screens = ScreensAhead(db, ScoringMatcher(), {"r": run_id, "high_id": 0}, [(1, 11), (11, 21)])
    handed: list[Screened] = []
    settling = threading.Thread(target=lambda: handed.append(screens.screened(1, 11)))
    try:
        _staged(db, run_id, staged_lines=9)  # lines 2 to 10: line 11 is not staged yet
        settling.start()
        settling.join(4 * ScreensAhead.POLL_SECONDS)
        assert settling.is_alive() and handed == []
        _staged(db, run_id, staged_lines=10)
        settling.join(30)
        assert handed == [Screened(set())]
        # the last chunk waits only for the staging to end, whatever the count
        _staged(db, run_id, total_lines=12)
        assert screens.screened(11, 21) == Screened(set())
    finally:
        screens.close()
        settling.join(30)


@ONLY_POSTGRES
def test_a_failed_screening_is_raised_in_the_settling(db, run_id):
    _staged(db, run_id, staged_lines=20, total_lines=20)
    # no ``high_id`` to bind: the screening's first statement fails on its thread
    screens = ScreensAhead(db, ScoringMatcher(), {"r": run_id}, [(1, 11), (11, 21)])
    try:
        with pytest.raises(SQLAlchemyError, match="high_id"):
            screens.screened(1, 11)
    finally:
        screens.close()
