"""One batch learner's answer: register or look up (JobType FUL / CHK), or verify.

Plain values in (a batch learner is a dict keyed by the BatchLearner field names, text only,
empty fields absent), domain outcomes out; refusals are the domain's exceptions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from miap.server import exceptions
from miap.server.matching.engine import Matcher, VerifyQuery
from miap.server.outcomes import Outcome
from miap.server.register import learners
from miap.storage.models import Learner

#: Registers new learners (and refreshes existing ones) / only looks them up.
FULL = "FUL"
CHECK = "CHK"

#: Each BatchLearner field and the learner column it carries (ULN and MISIdentifier aside).
COLUMNS: dict[str, str] = {
    "Title": "title",
    "GivenName": "given_name",
    "PreferredGivenName": "preferred_given_name",
    "MiddleOtherName": "middle_other_name",
    "FamilyName": "family_name",
    "PreviousFamilyName": "previous_family_name",
    "FamilyNameAtAge16": "family_name_at_age16",
    "SchoolAtAge16": "school_at_age16",
    "LastKnownAddressLine1": "address_line1",
    "LastKnownAddressLine2": "address_line2",
    "LastKnownAddressTown": "address_town",
    "LastKnownAddressCountyOrCity": "address_county_or_city",
    "LastKnownPostCode": "postcode",
    "DateOfAddressCapture": "date_of_address_capture",
    "DateOfBirth": "date_of_birth",
    "PlaceOfBirth": "place_of_birth",
    "EmailAddress": "email_address",
    "Gender": "gender",
    "Nationality": "nationality",
    "ScottishCandidateNumber": "scottish_candidate_number",
    "AbilityToShare": "ability_to_share",
    "VerificationType": "verification_type",
    "OtherVerificationDescription": "other_verification_description",
    "Notes": "notes",
}
DATES = frozenset({"DateOfBirth", "DateOfAddressCapture"})
#: What a search by demographics (and so a registration) needs.
REQUIRED_TO_SEARCH = ("DateOfBirth", "Gender", "LastKnownPostCode")
#: A batch need not say these; a learner it registers gets them (ours, privacy-safe):
#: identity not verified, privacy notice not seen.
DEFAULTS = {"verification_type": "0", "ability_to_share": "0"}
#: The address, replaced as a whole when the batch's DateOfAddressCapture is later.
ADDRESS = (
    "address_line1",
    "address_line2",
    "address_town",
    "address_county_or_city",
    "postcode",
    "date_of_address_capture",
)


def parse_date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise exceptions.InvalidDetails(f"{name} {value} is not a calendar date") from None


def details_of(fields: dict[str, str]) -> dict[str, Any]:
    """The learner columns a batch learner gives (only those it gives)."""
    details: dict[str, Any] = {}
    for name, column in COLUMNS.items():
        value = fields.get(name)
        if value is not None:
            details[column] = parse_date(value, name) if name in DATES else value
    return details


@dataclass
class Answer:
    outcome: Outcome
    uln: str | None = None


def register_or_find(
    session: Session, matcher: Matcher, fields: dict[str, str], job_type: str, ukprn: str
) -> Answer:
    """FUL: the existing learner (refreshed where the batch is newer) or a new registration;
    possible matches are left for the provider to resolve. CHK: look up only."""
    details = details_of(fields)
    uln = fields.get("ULN")
    if uln is not None:
        learners.require_valid_uln(uln)
        learner, substituted = learners.answering_learner(session, uln)
        if learner is not None and matcher.names_match(
            learner, details["given_name"], details["family_name"]
        ):
            if job_type == FULL:
                refresh(session, learner, details)
            return Answer(Outcome.LINKED if substituted else Outcome.EXACT, learner.uln)
        # A ULN that is not these names' is ignored: the learner is looked up by demographics.
    missing = [name for name in REQUIRED_TO_SEARCH if fields.get(name) is None]
    if missing:
        raise exceptions.InvalidDetails(
            f"{', '.join(missing)} needed to find or register a learner without a matching ULN"
        )
    person = learners.demographics_of(details)
    found = matcher.find(session, person)
    if found.code == Outcome.EXACT:
        [learner] = found.learners
        if job_type == FULL:
            refresh(session, learner, details)
        return Answer(Outcome.EXACT, learner.uln)
    if found.code in (Outcome.POSSIBLE, Outcome.TOO_MANY):
        return Answer(Outcome.POSSIBLE)
    if job_type == CHECK:
        return Answer(Outcome.NO_MATCH)
    code, new_uln = learners.register(session, matcher, {**DEFAULTS, **details}, ukprn)
    if code == Outcome.REGISTERED:
        return Answer(Outcome.REGISTERED, new_uln)
    # Someone registered this person a moment ago (another worker), or the details equal a
    # merged or withdrawn record: answer with the live learner if the engine finds one.
    again = matcher.find(session, person)
    if again.code == Outcome.EXACT:
        return Answer(Outcome.EXACT, again.learners[0].uln)
    return Answer(Outcome.POSSIBLE)


def refresh(session: Session, learner: Learner, details: dict[str, Any]) -> bool:
    """Update ``learner`` where the batch holds newer data: a later DateOfAddressCapture
    replaces the address, and fields the register lacks are filled in. Nothing is cleared or
    overwritten otherwise. An update the register refuses (it would duplicate another
    learner) leaves the learner as it was. True if the learner changed."""
    current = {column: getattr(learner, column) for column in learners.DETAIL_COLUMNS}
    new = dict(current)
    for column, value in details.items():
        if column not in ADDRESS and current.get(column) is None:
            new[column] = value
    captured = details.get("date_of_address_capture")
    stored = current.get("date_of_address_capture")
    if captured is not None and details.get("postcode") and (stored is None or captured > stored):
        for column in ADDRESS:
            new[column] = details.get(column)
    if new == current:
        return False
    try:
        with session.begin_nested():
            learners.update(session, new, learner.uln, learner.version)
    except exceptions.DomainError:
        return False
    return True


@dataclass
class Verified:
    outcome: Outcome
    #: The stored identity (ULN, names, date of birth, gender), given only when verified.
    learner: dict[str, str | None] | None
    failure_flags: list[str]
    #: Every ULN the answer touched or disclosed (for the audit).
    ulns: list[str]


def verify(session: Session, matcher: Matcher, fields: dict[str, str]) -> Verified:
    """One learner of a verify batch, answered as verifyLearner answers it."""
    uln = fields["ULN"]
    query = VerifyQuery(
        given_name=fields["GivenName"],
        family_name=fields["FamilyName"],
        date_of_birth=parse_date(fields.get("DateOfBirth"), "DateOfBirth"),
        gender=fields.get("Gender"),
    )
    result = learners.verify(session, matcher, uln, query)
    ulns = [uln]
    stored = None
    if result.learner is not None:
        if result.learner.uln != uln:
            ulns.append(result.learner.uln)
        if result.code != Outcome.NOT_VERIFIED:
            stored = {
                "ULN": result.learner.uln,
                "FamilyName": result.learner.family_name,
                "GivenName": result.learner.given_name,
                "DateOfBirth": result.learner.date_of_birth.isoformat(),
                "Gender": result.learner.gender,
            }
    return Verified(result.code, stored, list(result.failure_flags), ulns)
