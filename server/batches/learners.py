"""One batch learner's answer: register or look up (JobType FUL / CHK), or verify.

Plain values in (a batch learner is a dict keyed by the BatchLearner field names, text only,
empty fields absent), domain outcomes out; refusals are the domain's exceptions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from miap.server import exceptions
from miap.server.matching.engine import (
    Demographics,
    FindResult,
    Matcher,
    VerifyQuery,
    reaching_keys,
)
from miap.server.matching.normalise import known_postcode
from miap.server.outcomes import Disagreement, Outcome
from miap.server.register import learners
from miap.server.register.fields import DETAIL_FIELDS, parse_date
from miap.storage.models import Learner

#: Registers new learners (and refreshes existing ones) / only looks them up.
FULL = "FUL"
CHECK = "CHK"

#: Each BatchLearner field and the learner column it carries (ULN and MISIdentifier aside).
COLUMNS = DETAIL_FIELDS
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


#: A learner's identity keys (``uq_learners_identity``) and its exact-match group: the
#: learners any exact match must share family name key, date of birth and postcode key with.
IdentityKey = tuple[str, str, dt.date, str, str]
Group = tuple[str, dt.date, str]

#: Most rows one set-based query names (SQLite's bound parameters, PostgreSQL's plans).
_CHUNK_QUERY = 500


def _identity(keys: dict[str, Any], person: Demographics) -> IdentityKey | None:
    """The identity-index key of ``person``, or None when an identity hit could not be an
    exact match (a name or the postcode missing or not known): those go to the engine."""
    given, family, postcode = keys["given_key"], keys["family_key"], keys["postcode_key"]
    if not given or not family or not known_postcode(postcode):
        return None
    return (given, family, person.date_of_birth, person.gender, postcode)


def _group(learner: Learner) -> Group:
    return (learner.family_key, learner.date_of_birth, learner.postcode_key)


@dataclass
class Chunk:
    """What a chunk of batch learners needs from the register, read set-based up front: the
    learners of the ULNs it gives (one query, their masters in one more), and the learners
    whose identity keys equal a learner's of the chunk together with every learner sharing
    their exact-match group (one query through ``ix_learners_dob_family_sound``).

    An **identity hit** answers EXACT without the engine only when it provably is the engine's
    answer: the hit is live, its given and family name keys and its postcode are present and
    known (so every field is at an exact level), and no other live learner shares its family
    name key, date of birth and postcode key (every other exact candidate must). A group that
    a write of this chunk touched (a registration, an address refreshed) is dirty: its
    learners go to the engine, which sees the writes, as they would have one at a time.
    Everything else goes to the engine as before.
    """

    by_uln: dict[str, Learner] = field(default_factory=dict)
    by_id: dict[int, Learner] = field(default_factory=dict)
    #: Identity key -> the live learner holding it, when it is its group's only live learner.
    exact: dict[IdentityKey, Learner] = field(default_factory=dict)
    dirty: set[Group] = field(default_factory=set)
    #: The engine's answers for the chunk's other learners, searched together up front
    #: (``Matcher.find_many``); each stands until a write of this chunk could reach its
    #: blocks (``written``), and is then searched again.
    answers: dict[Demographics, FindResult] = field(default_factory=dict)
    #: The ``reaching_keys`` of every learner this chunk registered or changed.
    written: set[tuple] = field(default_factory=set)
    #: How many learners each path answered (tests and diagnostics).
    shortcuts: int = 0

    @classmethod
    def read(
        cls, session: Session, batch: Sequence[dict[str, str]], matcher: Matcher | None = None
    ) -> Chunk:
        chunk = cls()
        ulns = sorted({f["ULN"] for f in batch if f.get("ULN") and learners.is_valid_uln(f["ULN"])})
        for start in range(0, len(ulns), _CHUNK_QUERY):
            part = ulns[start : start + _CHUNK_QUERY]
            for learner in session.scalars(select(Learner).where(Learner.uln.in_(part))):
                chunk.by_uln[learner.uln] = learner
        masters = {
            learner.merged_into_id
            for learner in chunk.by_uln.values()
            if learner.merged_into_id is not None
        }
        if masters:
            for learner in session.scalars(select(Learner).where(Learner.id.in_(masters))):
                chunk.by_id[learner.id] = learner
        wanted: dict[IdentityKey, Group] = {}
        blocks: set[tuple[dt.date, str]] = set()
        #: Each searchable person of the chunk, once, with its identity key (or None).
        people: dict[Demographics, IdentityKey | None] = {}
        for fields in batch:
            person = _person(fields)
            if person is None:
                continue
            keys = person.keys
            identity = people[person] = _identity(keys, person)
            if identity is not None and keys["family_sound"]:
                wanted[identity] = (identity[1], identity[2], identity[4])
                blocks.add((person.date_of_birth, keys["family_sound"]))
        groups: dict[Group, list[Learner]] = {}
        ordered = sorted(blocks)
        for start in range(0, len(ordered), _CHUNK_QUERY):
            part = ordered[start : start + _CHUNK_QUERY]
            statement = select(Learner).where(
                tuple_(Learner.date_of_birth, Learner.family_sound).in_(part)
            )
            for learner in session.scalars(statement):
                groups.setdefault(_group(learner), []).append(learner)
        for identity, group in wanted.items():
            live = [
                learner
                for learner in groups.get(group, [])
                if learner.merged_into_id is None and learner.deleted_at is None
            ]
            if len(live) == 1 and _identity_of(live[0]) == identity:
                chunk.exact[identity] = live[0]
        if matcher is not None:
            searched = [person for person, key in people.items() if key not in chunk.exact]
            chunk.answers = dict(zip(searched, matcher.find_many(session, searched), strict=True))
        return chunk

    def find(self, session: Session, matcher: Matcher, person: Demographics) -> FindResult:
        """The engine's answer for ``person``: the one read up front while no write of this
        chunk can have changed it, else a search now."""
        answer = self.answers.get(person)
        if answer is None or not matcher.reach(person).isdisjoint(self.written):
            return matcher.find(session, person)
        return answer

    def answering(self, session: Session, uln: str) -> tuple[Learner | None, bool]:
        """``learners.answering_learner`` from what was read (the register for a ULN that was
        not: one registered by this chunk)."""
        learner = self.by_uln.get(uln)
        if learner is None:
            return learners.answering_learner(session, uln)
        if learner.deleted_at is not None:
            return None, False
        if learner.merged_into_id is not None:
            master = self.by_id.get(learner.merged_into_id)
            return master or session.get(Learner, learner.merged_into_id), True
        return learner, False

    def exact_match(self, person: Demographics) -> Learner | None:
        """The learner the engine would call the one exact match for ``person``, when the
        identity keys prove it (see the class); None means: ask the engine."""
        identity = _identity(person.keys, person)
        if identity is None:
            return None
        learner = self.exact.get(identity)
        if learner is None or (identity[1], identity[2], identity[4]) in self.dirty:
            return None
        if _identity_of(learner) != identity or _group(learner) in self.dirty:
            return None
        self.shortcuts += 1
        return learner

    def touched(self, *groups: Group) -> None:
        self.dirty.update(groups)


def _identity_of(learner: Learner) -> IdentityKey:
    return (
        learner.given_key,
        learner.family_key,
        learner.date_of_birth,
        learner.gender,
        learner.postcode_key,
    )


def _person(fields: dict[str, str]) -> Demographics | None:
    """The demographics a batch learner would be searched by, or None when it cannot be (it
    is refused, or answered, later, one at a time as before)."""
    if any(fields.get(name) is None for name in REQUIRED_TO_SEARCH):
        return None
    if fields.get("GivenName") is None or fields.get("FamilyName") is None:
        return None
    try:
        born = dt.date.fromisoformat(fields["DateOfBirth"])
    except ValueError:
        return None
    return Demographics(
        given_name=fields["GivenName"],
        family_name=fields["FamilyName"],
        date_of_birth=born,
        gender=fields["Gender"],
        postcode=fields["LastKnownPostCode"],
        previous_family_name=fields.get("PreviousFamilyName"),
        family_name_at_age16=fields.get("FamilyNameAtAge16"),
    )


def register_or_find(
    session: Session,
    matcher: Matcher,
    fields: dict[str, str],
    job_type: str,
    ukprn: str,
    *,
    chunk: Chunk | None = None,
) -> Answer:
    """FUL: the existing learner (refreshed where the batch is newer) or a new registration;
    possible matches are left for the provider to resolve. CHK: look up only.

    ``chunk``: what the learner's chunk read up front (``Chunk.read``); the answers are the
    same, fewer of them need the engine, and a new learner is searched once, not twice."""
    details = details_of(fields)
    uln = fields.get("ULN")
    if uln is not None:
        learners.require_valid_uln(uln)
        if chunk is not None:
            learner, substituted = chunk.answering(session, uln)
        else:
            learner, substituted = learners.answering_learner(session, uln)
        if learner is not None and matcher.names_match(
            learner, details["given_name"], details["family_name"]
        ):
            if job_type == FULL:
                _refresh(session, learner, details, chunk)
            return Answer(Outcome.LINKED if substituted else Outcome.EXACT, learner.uln)
        # A ULN that is not these names' is ignored: the learner is looked up by demographics.
    missing = [name for name in REQUIRED_TO_SEARCH if fields.get(name) is None]
    if missing:
        raise exceptions.InvalidDetails(
            f"{', '.join(missing)} needed to find or register a learner without a matching ULN"
        )
    person = learners.demographics_of(details)
    hit = chunk.exact_match(person) if chunk is not None else None
    if hit is not None:
        if job_type == FULL:
            _refresh(session, hit, details, chunk)
        return Answer(Outcome.EXACT, hit.uln)
    if chunk is not None:
        found = chunk.find(session, matcher, person)
    else:
        found = matcher.find(session, person)
    if found.code == Outcome.EXACT:
        [learner] = found.learners
        if job_type == FULL:
            _refresh(session, learner, details, chunk)
        return Answer(Outcome.EXACT, learner.uln)
    if found.code in (Outcome.POSSIBLE, Outcome.TOO_MANY):
        return Answer(Outcome.POSSIBLE)
    if job_type == CHECK:
        return Answer(Outcome.NO_MATCH)
    # ``found`` is NO_MATCH: no exact candidate, so register's own duplicate search (the same
    # search, in the same transaction) is skipped when the chunk path is taken.
    code, new_uln = learners.register(
        session, matcher, {**DEFAULTS, **details}, ukprn, searched=chunk is not None
    )
    if code == Outcome.REGISTERED:
        if chunk is not None:
            keys = person.keys
            chunk.touched((keys["family_key"], person.date_of_birth, keys["postcode_key"]))
            chunk.written |= reaching_keys({**keys, "date_of_birth": person.date_of_birth})
        return Answer(Outcome.REGISTERED, new_uln)
    # Someone registered this person a moment ago (another worker), or the details equal a
    # merged or withdrawn record: answer with the live learner if the engine finds one.
    again = matcher.find(session, person)
    if again.code == Outcome.EXACT:
        return Answer(Outcome.EXACT, again.learners[0].uln)
    return Answer(Outcome.POSSIBLE)


def _refresh(
    session: Session, learner: Learner, details: dict[str, Any], chunk: Chunk | None
) -> bool:
    before, reached = _group(learner), reaching_keys(learner)
    changed = refresh(session, learner, details)
    if changed and chunk is not None:
        chunk.touched(before, _group(learner))
        chunk.written |= reached | reaching_keys(learner)
    return changed


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
    failure_flags: list[Disagreement]
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
