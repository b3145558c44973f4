"""Registration and the database's constraints: only the identity constraint means "already
registered" (WSRC0021); any other constraint failure is refused as details that could not be
stored (WSEC0706), on SQLite and PostgreSQL alike. Real databases, no mocks of storage; all
people are synthetic."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from miap.client import LrsClient
from miap.server import exceptions
from miap.server.matching.engine import ScoringMatcher
from miap.server.outcomes import Outcome
from miap.server.register import learners
from miap.server.register.identifiers import random_uln
from miap.server.soap import faults
from miap.storage.constraints import violated_constraint
from miap.storage.engine import Database
from miap.storage.models import Learner
from tests.conftest import TEST_PASSWORD, TEST_UKPRN
from tests.support import synthetic_person

matcher = ScoringMatcher()


class NoDuplicates:
    """A matcher that never finds a duplicate, as when another server's insert of the same
    person is not yet visible: the identity constraint is then the only guard."""

    def duplicate_of(self, session, person, exclude_id=None):  # noqa: ANN001, ANN201
        return None


def details(**overrides: Any) -> dict[str, Any]:
    person = synthetic_person()
    values = {
        "given_name": person["GivenName"],
        "family_name": person["FamilyName"],
        "date_of_birth": dt.date.fromisoformat(person["DateOfBirth"]),
        "gender": person["Gender"],
        "postcode": person["LastKnownPostCode"],
        "verification_type": "1",
        "ability_to_share": "1",
    }
    values.update(overrides)
    return values


def stored(db: Database, person: dict[str, Any]) -> int:
    """How many learners hold ``person``'s names and birth date."""
    with db.transaction() as session:
        return session.scalar(
            select(func.count())
            .select_from(Learner)
            .where(
                Learner.given_name == person["given_name"],
                Learner.family_name == person["family_name"],
                Learner.date_of_birth == person["date_of_birth"],
            )
        )


# -- the same person twice --------------------------------------------------------------------


def test_the_same_person_twice_over_the_wire_is_wsrc0021(server):
    person = {**synthetic_person(), "VerificationType": "1", "AbilityToShare": "1"}
    with LrsClient(server.url, TEST_UKPRN, TEST_PASSWORD, "constraints.tester") as lrs:
        code, uln = lrs.register(person)
        assert code == "WSRC0005" and uln
        assert lrs.register(person) == ("WSRC0021", None)
        # Case, spacing and postcode padding do not make another person.
        shouted = {**person, "GivenName": person["GivenName"].upper()}
        shouted["LastKnownPostCode"] = person["LastKnownPostCode"].lower() + "  "
        assert lrs.register(shouted) == ("WSRC0021", None)


def test_the_same_person_twice_is_not_registered(db):
    person = details()
    with db.transaction() as session:
        code, uln = learners.register(session, matcher, person, TEST_UKPRN)
    assert code is Outcome.REGISTERED and uln
    with db.transaction() as session:
        assert learners.register(session, matcher, person, TEST_UKPRN) == (
            Outcome.NOT_REGISTERED,
            None,
        )
    assert faults.code_of(Outcome.NOT_REGISTERED) == "WSRC0021"
    assert stored(db, person) == 1


def test_the_identity_constraint_alone_answers_not_registered(db):
    """When the matcher misses the first registration (a race between servers), the identity
    unique index refuses the second, and that is still "already registered"."""
    person = details()
    with db.transaction() as session:
        assert learners.register(session, NoDuplicates(), person, TEST_UKPRN)[0] is (
            Outcome.REGISTERED
        )
    with db.transaction() as session:
        assert learners.register(session, NoDuplicates(), person, TEST_UKPRN) == (
            Outcome.NOT_REGISTERED,
            None,
        )
    assert stored(db, person) == 1


# -- other constraint failures are not duplicates ---------------------------------------------


def test_a_not_null_failure_is_not_a_duplicate(db):
    """A broken ULN source (the ``new_uln`` seam) breaks the ULN's NOT NULL constraint: that
    is refused as WSEC0706, never answered as if the person were already registered."""
    person = details()
    with pytest.raises(exceptions.DetailsNotStorable) as caught, db.transaction() as session:
        learners.register(session, matcher, person, TEST_UKPRN, new_uln=lambda: None)
    refusal = faults.fault_for(caught.value)
    assert refusal.error is faults.NOT_STORABLE and refusal.error.code == "WSEC0706"
    assert "learners.uln" in str(caught.value)
    assert stored(db, person) == 0
    # Nothing was half-written: the same person registers normally afterwards.
    with db.transaction() as session:
        assert learners.register(session, matcher, person, TEST_UKPRN)[0] is Outcome.REGISTERED


@pytest.mark.parametrize(
    "column, value",
    [("nationality", "GBRX"), ("scottish_candidate_number", "1234567890"), ("gender", "12")],
)
def test_a_value_too_long_for_its_column_is_not_a_duplicate(db, column, value):
    """PostgreSQL refuses a value longer than its column (SQLite stores it as it is): the
    schema keeps such values off the wire, but a caller below it must get WSEC0706 too."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite does not enforce column lengths")
    person = details(**{column: value})
    with pytest.raises(exceptions.DetailsNotStorable) as caught, db.transaction() as session:
        learners.register(session, matcher, person, TEST_UKPRN)
    assert faults.fault_for(caught.value).error.code == "WSEC0706"
    assert stored(db, person) == 0


# -- storage.constraints.violated_constraint --------------------------------------------------


def learner_row(person: dict[str, Any], uln: str | None) -> Learner:
    return Learner(
        uln=uln,
        learner_status=learners.ACTIVE,
        registered_by_ukprn=TEST_UKPRN,
        **learners.stored_columns(person),
    )


def violation(db: Database, first: Learner | None, second: Learner) -> str:
    """The constraint ``second`` breaks once ``first`` is stored (rolled back afterwards)."""
    with db.transaction() as session:
        if first is not None:
            session.add(first)
            session.flush()
        with pytest.raises(IntegrityError) as caught, session.begin_nested():
            session.add(second)
        session.rollback()
    return violated_constraint(caught.value)


def test_violated_constraint_names_the_identity_index(db):
    person = details()
    broken = violation(db, learner_row(person, random_uln()), learner_row(person, random_uln()))
    assert broken == learners.IDENTITY_CONSTRAINT == "uq_learners_identity"


def test_violated_constraint_names_the_uln_unique_constraint(db):
    uln = random_uln()
    broken = violation(db, learner_row(details(), uln), learner_row(details(), uln))
    assert broken == learners.ULN_CONSTRAINT == "uq_learners_uln"


def test_violated_constraint_names_a_not_null_column(db):
    assert violation(db, None, learner_row(details(), None)) == "not null: learners.uln"
    no_gender = learner_row(details(), random_uln())
    no_gender.verification_type = None
    assert violation(db, None, no_gender) == "not null: learners.verification_type"
