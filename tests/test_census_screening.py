"""``screening.ScreensAhead``: chunks screened on a thread of their own hand the settling
their results in order, or the error that stopped them (PostgreSQL; the outcomes themselves
are held to the engine's by ``test_census.py``)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import SQLAlchemyError

from miap.server.census.screening import ScreensAhead
from miap.server.matching.engine import ScoringMatcher
from miap.storage.engine import Database

ONLY_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True
)


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


@ONLY_POSTGRES
def test_chunks_are_handed_over_in_order(db):
    screens = ScreensAhead(db, ScoringMatcher(), {"r": -1, "high_id": 0}, [(1, 11), (11, 21)])
    try:
        assert screens.proved_new(1, 11) == set()  # no run -1: no row screened
        with pytest.raises(RuntimeError, match=r"screened lines \(11, 21\), settling \(11, 31\)"):
            screens.proved_new(11, 31)
    finally:
        screens.close()


@ONLY_POSTGRES
def test_a_failed_screening_is_raised_in_the_settling(db):
    # no ``high_id`` to bind: the screening's first statement fails on its thread
    screens = ScreensAhead(db, ScoringMatcher(), {"r": -1}, [(1, 11), (11, 21)])
    try:
        with pytest.raises(SQLAlchemyError, match="high_id"):
            screens.proved_new(1, 11)
    finally:
        screens.close()
