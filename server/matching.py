"""Learner matching: the one interface every find, registration and verification goes through.

``DeterministicMatcher`` is the simple, predictable rule set of the LearnerService core:
normalised names, date of birth, gender and postcode compared for equality. A real scoring
engine replaces it behind the same ``Matcher`` protocol.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field
from typing import Protocol

import jellyfish
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from miap.storage.models import Learner

#: The national service never returns more than this many possible matches.
MAX_MATCHES = 10
#: Candidates read per query; enough to tell "too many" from "possible" with room to spare.
CANDIDATE_LIMIT = 500

NO_MATCH = "WSRC0001"
TOO_MANY = "WSRC0002"
POSSIBLE = "WSRC0003"
EXACT = "WSRC0004"


def name_key(value: str | None) -> str | None:
    """Upper-case A–Z only: accents folded, apostrophes, hyphens and spaces dropped."""
    if value is None:
        return None
    folded = unicodedata.normalize("NFKD", value)
    key = "".join(ch for ch in folded.upper() if "A" <= ch <= "Z")
    return key or None


def sound_key(key: str | None) -> str | None:
    """Soundex of a name key: the same code for most one-letter slips after the first."""
    return jellyfish.soundex(key) if key else None


def postcode_key(value: str | None) -> str | None:
    if value is None:
        return None
    return "".join(value.split()).upper() or None


@dataclass(frozen=True)
class Demographics:
    """What a find or a registration says about a person."""

    given_name: str
    family_name: str
    date_of_birth: dt.date
    gender: str
    postcode: str
    previous_family_name: str | None = None
    family_name_at_age16: str | None = None

    @property
    def keys(self) -> dict[str, object]:
        """Column values of the matching keys for this person."""
        given, family = name_key(self.given_name), name_key(self.family_name)
        return {
            "given_key": given,
            "family_key": family,
            "previous_family_key": name_key(self.previous_family_name),
            "family_at16_key": name_key(self.family_name_at_age16),
            "postcode_key": postcode_key(self.postcode),
            "given_sound": sound_key(given),
            "family_sound": sound_key(family),
        }


@dataclass
class FindResult:
    code: str
    learners: list[Learner] = field(default_factory=list)


@dataclass(frozen=True)
class VerifyQuery:
    given_name: str
    family_name: str
    date_of_birth: dt.date | None = None
    gender: str | None = None


@dataclass
class VerifyOutcome:
    names: str  # "match", "similar" or "different"
    failure_flags: list[str]
    date_of_birth_ok: bool
    gender_ok: bool


class Matcher(Protocol):
    def find(self, session: Session, query: Demographics) -> FindResult: ...

    def duplicate_of(
        self, session: Session, person: Demographics, exclude_id: int | None = None
    ) -> Learner | None: ...

    def names_match(self, learner: Learner, given_name: str, family_name: str) -> bool: ...

    def verify(self, learner: Learner, query: VerifyQuery) -> VerifyOutcome: ...


class DeterministicMatcher:
    """Equality of normalised keys; a candidate missing by one field is a possible match."""

    @staticmethod
    def candidates(query: Demographics) -> Select:
        """Indexed candidate rows for ``query``; never a scan of the register."""
        keys = query.keys
        born = Learner.date_of_birth == query.date_of_birth
        # A candidate that misses by one field at most agrees on one of these indexed pairs,
        # so a find reads a handful of rows whatever the size of the register.
        return (
            select(Learner)
            .where(
                or_(
                    born & (Learner.family_sound == keys["family_sound"]),
                    born & (Learner.given_sound == keys["given_sound"]),
                    born & (Learner.postcode_key == keys["postcode_key"]),
                )
            )
            .limit(CANDIDATE_LIMIT)
        )

    def find(self, session: Session, query: Demographics) -> FindResult:
        statement = self.candidates(query)
        scored = []
        for learner in session.scalars(statement):
            agreements = self._agreements(learner, query)
            if all(agreements.values()):
                return FindResult(EXACT, [learner])
            score = sum(agreements.values())
            if score >= len(agreements) - 1:
                scored.append((score, learner.uln, learner))
        if not scored:
            return FindResult(NO_MATCH)
        if len(scored) > MAX_MATCHES:
            return FindResult(TOO_MANY)
        scored.sort(key=lambda item: (-item[0], item[1]))
        return FindResult(POSSIBLE, [learner for _, _, learner in scored])

    @staticmethod
    def _agreements(learner: Learner, query: Demographics) -> dict[str, bool]:
        keys = query.keys
        family_names = {learner.family_key, learner.previous_family_key} - {None}
        return {
            "given": learner.given_key == keys["given_key"],
            "family": keys["family_key"] in family_names
            or (
                keys["previous_family_key"] is not None
                and keys["previous_family_key"] in family_names
            ),
            "dob": learner.date_of_birth == query.date_of_birth,
            "gender": learner.gender == query.gender,
            "postcode": learner.postcode_key == keys["postcode_key"],
        }

    def duplicate_of(
        self, session: Session, person: Demographics, exclude_id: int | None = None
    ) -> Learner | None:
        keys = person.keys
        statement = select(Learner).where(
            Learner.given_key == keys["given_key"],
            Learner.family_key == keys["family_key"],
            Learner.date_of_birth == person.date_of_birth,
            Learner.gender == person.gender,
            Learner.postcode_key == keys["postcode_key"],
        )
        if exclude_id is not None:
            statement = statement.where(Learner.id != exclude_id)
        return session.scalars(statement.limit(1)).first()

    def names_match(self, learner: Learner, given_name: str, family_name: str) -> bool:
        family = name_key(family_name)
        return name_key(given_name) == learner.given_key and family in (
            learner.family_key,
            learner.previous_family_key,
        )

    def verify(self, learner: Learner, query: VerifyQuery) -> VerifyOutcome:
        given, family = name_key(query.given_name), name_key(query.family_name)
        stored = (learner.given_key, learner.family_key, learner.previous_family_key)
        flags = []
        # VRF1-3: incoming GivenName vs stored GivenName / FamilyName / PreviousFamilyName;
        # VRF4-6: incoming FamilyName vs the same three. A comparison with nothing stored
        # (no previous family name) raises no flag.
        for offset, incoming in ((1, given), (4, family)):
            for index, value in enumerate(stored):
                if value is not None and incoming != value:
                    flags.append(f"VRF{offset + index}")
        dob_ok = query.date_of_birth is None or query.date_of_birth == learner.date_of_birth
        gender_ok = query.gender is None or query.gender == learner.gender
        if not dob_ok:
            flags.append("VRF7")
        if not gender_ok:
            flags.append("VRF8")
        if given == learner.given_key and family == learner.family_key:
            names = "match"
        elif (given, family) == (learner.family_key, learner.given_key) or (
            given == learner.given_key and family == learner.previous_family_key
        ):
            names = "similar"  # given and family swapped, or the family name before a change
        else:
            names = "different"
        return VerifyOutcome(names, flags, dob_ok, gender_ok)
