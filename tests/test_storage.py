"""Storage rules on SQLite and PostgreSQL: migrations, registration, updates, finds."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text

from miap.server.exceptions import DomainError
from miap.server.matching.engine import ScoringMatcher
from miap.server.matching.normalise import name_key
from miap.server.outcomes import Outcome
from miap.server.register import learners
from miap.server.register.identifiers import is_valid_uln, random_uln
from miap.server.soap import faults as errors
from miap.server.soap.faults import fault_for
from miap.storage import schema
from miap.storage.engine import Database
from miap.storage.models import Learner
from tests.support import synthetic_name

matcher = ScoringMatcher()


def details(**overrides) -> dict:
    person = {
        "given_name": synthetic_name(),
        "family_name": synthetic_name(),
        "date_of_birth": dt.date(2007, 3, 9),
        "gender": "2",
        "postcode": "M1 1AE",
        "verification_type": "1",
        "ability_to_share": "1",
    }
    person.update(overrides)
    return person


def register(db: Database, person: dict, **kwargs) -> tuple[str, str | None]:
    with db.transaction() as session:
        return learners.register(session, matcher, person, "10000002", **kwargs)


def count(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Learner))


def test_migrations_build_exactly_the_models(db):
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), schema.metadata)
    assert diff == []


def test_register_issues_a_valid_uln(db):
    code, uln = register(db, details())
    assert code == Outcome.REGISTERED and is_valid_uln(uln)
    with db.transaction() as session:
        learner = learners.learner_by_uln(session, uln)
        assert (learner.version, learner.learner_status, learner.tier_level) == (1, "1", "1")


def test_registering_the_same_person_again_creates_nothing(db):
    person = details(given_name="Anne-Marie", family_name="O'Dowd", postcode="B2 4QA")
    assert register(db, person)[0] == Outcome.REGISTERED
    before = count(db)
    variant = dict(person, given_name="annemarie", family_name="O DOWD", postcode="b24qa")
    assert register(db, variant) == (Outcome.NOT_REGISTERED, None)
    assert count(db) == before


def test_uln_collision_draws_again_without_bothering_the_caller(db):
    _, taken = register(db, details())
    fresh = random_uln()
    draws = iter([taken, taken, fresh])
    code, uln = register(db, details(), new_uln=lambda: next(draws))
    assert (code, uln) == (Outcome.REGISTERED, fresh)


def test_verification_type_999_needs_a_description(db):
    before = count(db)
    with pytest.raises(DomainError) as caught:
        register(db, details(verification_type="999"))
    assert fault_for(caught.value).error is errors.BADLY_FORMED
    assert count(db) == before


def test_update_bumps_the_version_and_refuses_a_stale_one(db):
    person = details()
    _, uln = register(db, person)
    with db.transaction() as session:
        changed = dict(person, email_address="learner@example.org")
        assert learners.update(session, changed, uln, 1) == Outcome.UPDATED
    with pytest.raises(DomainError) as caught, db.transaction() as session:
        learners.update(session, dict(person, email_address="stale@example.org"), uln, 1)
    assert fault_for(caught.value).error is errors.VERSION_CONFLICT
    with db.transaction() as session:
        learner = learners.learner_by_uln(session, uln)
        assert (learner.version, learner.email_address) == (2, "learner@example.org")


def test_update_that_would_duplicate_another_learner_is_refused(db):
    first, second = details(), details()
    register(db, first)
    _, uln = register(db, second)
    with pytest.raises(DomainError) as caught, db.transaction() as session:
        learners.update(session, dict(first), uln, 1)
    assert fault_for(caught.value).error is errors.UPDATE_DUPLICATES
    with db.transaction() as session:
        assert learners.learner_by_uln(session, uln).given_key == name_key(second["given_name"])


def test_update_of_unknown_or_invalid_uln(db):
    with pytest.raises(DomainError) as caught, db.transaction() as session:
        learners.update(session, details(), "1000000043", 1)
    assert fault_for(caught.value).error is errors.LEARNER_NOT_FOUND
    with pytest.raises(DomainError) as caught, db.transaction() as session:
        learners.update(session, details(), "1000000063", 1)
    assert fault_for(caught.value).error is errors.INVALID_ULN


def test_uln_lookup_uses_the_unique_index(db):
    statement = select(Learner.id).where(Learner.uln == "1000000043")
    with db.engine.connect() as connection:
        dialect = connection.dialect
        sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if dialect.name == "sqlite":
            plan = " ".join(
                str(row) for row in connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
            )
            assert "INDEX" in plan and "(uln=?)" in plan, plan  # the unique constraint's index
        else:
            # The table is tiny here, so forbid the sequential scan and prove the index serves.
            connection.execute(text("SET enable_seqscan = off"))
            plan = " ".join(row[0] for row in connection.execute(text(f"EXPLAIN {sql}")))
            assert "uq_learners_uln" in plan and "Seq Scan" not in plan, plan


def test_allocated_ulns_are_unique_in_storage(db):
    ulns = [register(db, details())[1] for _ in range(20)]
    assert len(set(ulns)) == 20
    assert all(is_valid_uln(u) for u in ulns)
