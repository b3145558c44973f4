"""Learner register rules: find, register, update, verify and retrieve.

These functions take a session and plain values, never XML; the SOAP service module maps the
wire to them. Every function leaves the session consistent: a refusal raises before anything
is written, and the caller's transaction decides the commit.

A merged duplicate ULN answers with its master (``Outcome.LINKED``, ``VERIFIED_LINKED``); a
withdrawn ULN answers as if it had never been issued (see ``merging.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from miap.server import exceptions
from miap.server.matching.engine import Demographics, FindResult, Matcher, VerifyQuery
from miap.server.outcomes import Disagreement, Outcome
from miap.server.register.fields import DETAIL_COLUMNS
from miap.server.register.identifiers import is_valid_uln, random_uln
from miap.storage.constraints import violated_constraint
from miap.storage.models import Learner, utcnow
from miap.storage.reads import LearnerRow, Reads

#: Where a read-only rule reads from: an ORM session (inside a write), or the thin read path.
Source = Session | Reads

#: LearnerStatus of a live record; TierLevel 0 = identity not verified, 1 = verified.
ACTIVE = "1"
_UNVERIFIED = "0"

#: The unique constraints a registration may meet: the same person, or the same ULN drawn.
IDENTITY_CONSTRAINT = "uq_learners_identity"
ULN_CONSTRAINT = "uq_learners_uln"

#: How many ULNs to draw before giving up on a (vanishingly unlikely) run of collisions.
ALLOCATION_ATTEMPTS = 20


def demographics_of(details: dict[str, Any]) -> Demographics:
    return Demographics(
        given_name=details["given_name"],
        family_name=details["family_name"],
        date_of_birth=details["date_of_birth"],
        gender=details["gender"],
        postcode=details["postcode"],
        previous_family_name=details.get("previous_family_name"),
        family_name_at_age16=details.get("family_name_at_age16"),
    )


def require_valid_uln(uln: str) -> None:
    if not is_valid_uln(uln):
        raise exceptions.InvalidUln(f"ULN {uln} fails its check digit")


def learner_by_uln(session: Session, uln: str) -> Learner | None:
    return session.scalars(select(Learner).where(Learner.uln == uln)).first()


def answering_learner(session: Session, uln: str) -> tuple[Learner | None, bool]:
    """The learner that answers for ``uln`` and whether it is a master standing in for it.

    None for a ULN never issued or withdrawn; the master for a merged duplicate.
    """
    learner = learner_by_uln(session, uln)
    if learner is None or learner.deleted_at is not None:
        return None, False
    if learner.merged_into_id is not None:
        return session.get(Learner, learner.merged_into_id), True
    return learner, False


def answering_row(reads: Reads, uln: str) -> tuple[LearnerRow | None, bool]:
    """``answering_learner`` on the read path: one indexed query, learner and master together."""
    learner, master = reads.learner_and_master(uln)
    if learner is None or learner.deleted_at is not None:
        return None, False
    if learner.merged_into_id is not None:
        return master, True
    return learner, False


def _answering(source: Source, uln: str) -> tuple[Learner | LearnerRow | None, bool]:
    if isinstance(source, Reads):
        return answering_row(source, uln)
    return answering_learner(source, uln)


def find_by_uln(
    source: Source, matcher: Matcher, uln: str, given_name: str, family_name: str
) -> FindResult:
    """The learner with this ULN (or its master), only when the names agree too.

    ``source`` is the read path (``Reads``, what the service uses) or an ORM session."""
    require_valid_uln(uln)
    learner, substituted = _answering(source, uln)
    if learner is None or not matcher.names_match(learner, given_name, family_name):
        return FindResult(Outcome.NO_MATCH)
    return FindResult(Outcome.LINKED if substituted else Outcome.EXACT, [learner])


def _check_details(details: dict[str, Any], today: dt.date) -> None:
    if details["date_of_birth"] > today:
        raise exceptions.InvalidDetails("DateOfBirth is in the future")
    if details["verification_type"] == "999" and not details.get("other_verification_description"):
        raise exceptions.InvalidDetails(
            "OtherVerificationDescription is required when VerificationType is 999"
        )


def stored_columns(details: dict[str, Any]) -> dict[str, Any]:
    """Every column a learner's details determine: the details, matching keys and tier."""
    columns = {column: details.get(column) for column in DETAIL_COLUMNS}
    columns.update(demographics_of(details).keys)
    columns["tier_level"] = _UNVERIFIED if details["verification_type"] == "0" else "1"
    return columns


def _apply(learner: Learner, details: dict[str, Any]) -> None:
    for column, value in stored_columns(details).items():
        setattr(learner, column, value)


_INSERT = insert(Learner.__table__)


def register(
    session: Session,
    matcher: Matcher,
    details: dict[str, Any],
    ukprn: str,
    new_uln: Callable[[], str] = random_uln,
    *,
    searched: bool = False,
) -> tuple[Outcome, str | None]:
    """Register a new learner: ``(REGISTERED, uln)``, or ``(NOT_REGISTERED, None)`` for a
    duplicate.

    The identity unique index makes the duplicate check race-free across servers: whichever
    insert loses the race sees the winner's row and answers NOT_REGISTERED. A clash on the ULN
    (with a live, merged or withdrawn learner) draws a new ULN; the caller never sees it. Any
    other constraint failure is not a duplicate and is refused as such (DetailsNotStorable).

    ``searched=True`` says the caller has just looked this person up with ``matcher.find`` in
    the same transaction and got ``NO_MATCH`` (so no exact candidate): the duplicate check
    would repeat that search, and is skipped. The identity index still refuses a duplicate
    registered in between, exactly as it refuses one registered after the check.
    """
    _check_details(details, dt.date.today())
    if not searched and matcher.duplicate_of(session, demographics_of(details)) is not None:
        return Outcome.NOT_REGISTERED, None
    columns = {**stored_columns(details), "learner_status": ACTIVE, "registered_by_ukprn": ukprn}
    for _ in range(ALLOCATION_ATTEMPTS):
        uln = new_uln()
        try:
            # A Core insert of the table (values as parameters, the statement compiled once):
            # the unit of work would cost more than the insert itself.
            with session.begin_nested():
                session.connection().execute(_INSERT, {**columns, "uln": uln})
        except IntegrityError as error:
            broken = violated_constraint(error)
            if broken == ULN_CONSTRAINT:
                continue
            if broken == IDENTITY_CONSTRAINT:
                # Another server registered this person first, or the identity index holds a
                # merged or withdrawn learner with these details (duplicate_of passes over those).
                return Outcome.NOT_REGISTERED, None
            raise exceptions.DetailsNotStorable(f"constraint {broken}") from None
        except DataError:
            # PostgreSQL refuses a value longer than its column (SQLite stores it as it is).
            raise exceptions.DetailsNotStorable("a value does not fit its column") from None
        return Outcome.REGISTERED, uln
    raise exceptions.UlnsExhausted("No free ULN could be allocated")


def update(session: Session, details: dict[str, Any], uln: str, version: int) -> Outcome:
    """Replace a learner's details, only if ``version`` is still the stored VersionNumber."""
    require_valid_uln(uln)
    _check_details(details, dt.date.today())
    learner = learner_by_uln(session, uln)
    if learner is None:
        raise exceptions.LearnerNotFound(f"ULN {uln}")
    if learner.deleted_at is not None:
        raise exceptions.UlnWithdrawn(f"ULN {uln}")
    if learner.merged_into_id is not None:
        raise exceptions.UlnMerged(f"ULN {uln}: find it by ULN to reach its master")
    if learner.version != version:
        raise exceptions.VersionConflict(f"VersionNumber {version} is stale; ULN {uln}")
    _apply(learner, details)
    learner.updated_at = utcnow()
    try:
        session.flush()
    except StaleDataError:
        raise exceptions.VersionConflict(f"VersionNumber {version} is stale; ULN {uln}") from None
    except IntegrityError as error:
        broken = violated_constraint(error)
        if broken == IDENTITY_CONSTRAINT:
            raise exceptions.WouldDuplicate(f"ULN {uln}") from None
        raise exceptions.DetailsNotStorable(f"ULN {uln}: constraint {broken}") from None
    except DataError:
        raise exceptions.DetailsNotStorable(f"ULN {uln}: a value does not fit its column") from None
    return Outcome.UPDATED


#: Flags never given when the names do not match at all (see ``verify``).
_UNDISCLOSED = frozenset({Disagreement.DATE_OF_BIRTH, Disagreement.GENDER})


@dataclass
class Verification:
    code: Outcome
    learner: Learner | LearnerRow | None
    failure_flags: list[Disagreement]


def verify(source: Source, matcher: Matcher, uln: str, query: VerifyQuery) -> Verification:
    """Check ``query`` against the learner holding ``uln``, or its master if it was merged
    (``source``: the read path or an ORM session)."""
    require_valid_uln(uln)
    learner, linked = _answering(source, uln)
    if learner is None:
        return Verification(Outcome.ULN_NOT_FOUND, None, [])
    outcome = matcher.verify(learner, query)
    if outcome.date_of_birth_ok and outcome.gender_ok and outcome.names == "match":
        return Verification(Outcome.VERIFIED_LINKED if linked else Outcome.VERIFIED, learner, [])
    if outcome.date_of_birth_ok and outcome.gender_ok and outcome.names == "similar":
        code = Outcome.VERIFIED_SIMILAR_LINKED if linked else Outcome.VERIFIED_SIMILAR
        return Verification(code, learner, outcome.failure_flags)
    flags = outcome.failure_flags
    if outcome.names == "different":
        # Names that do not match earn no hint about the date of birth or gender, so a ULN
        # alone cannot be used to guess them one request at a time.
        flags = [flag for flag in flags if flag not in _UNDISCLOSED]
    return Verification(Outcome.NOT_VERIFIED, learner, flags)


@dataclass
class Retrieved:
    """The answer for one ULN of retrieveULNs."""

    uln: str
    code: Outcome
    #: Whose details are returned: the learner, or the master of a merged duplicate.
    learner: Learner | None = None
    master_uln: str | None = None


def retrieve(session: Session, ulns: list[str]) -> list[Retrieved]:
    """One answer per ULN in ``ulns``, in order (two queries at most)."""
    valid = {uln for uln in ulns if is_valid_uln(uln)}
    rows = session.scalars(select(Learner).where(Learner.uln.in_(valid))) if valid else []
    found = {learner.uln: learner for learner in rows if learner.deleted_at is None}
    master_ids = {learner.merged_into_id for learner in found.values()} - {None}
    masters = (
        session.scalars(select(Learner).where(Learner.id.in_(master_ids))) if master_ids else []
    )
    by_id = {learner.id: learner for learner in masters}
    answers = []
    for uln in ulns:
        learner = found.get(uln)
        if learner is None:
            code = Outcome.NO_MATCH if uln in valid else Outcome.INVALID_ULN
            answers.append(Retrieved(uln, code))
        elif learner.merged_into_id is not None:
            master = by_id[learner.merged_into_id]
            answers.append(Retrieved(uln, Outcome.LINKED, master, master.uln))
        else:
            answers.append(Retrieved(uln, Outcome.EXACT, learner))
    return answers
