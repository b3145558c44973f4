"""Learner matching: the one engine every find, registration and verification goes through.

``ScoringMatcher`` reads a few candidates through indexed blocking keys, grades each field of
each candidate (``comparison.py``) and adds up Fellegi–Sunter weights fitted on
synthetic data with known truth (``bench/match_quality.py --fit`` writes
``server/data/match_weights.json``). Exact = every key field agrees after normalisation and
only one learner does; possible = score at or above the fitted threshold, best first, at most
ten; more than ten = too many.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Protocol

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from miap.server.matching.comparison import Probe, Stored, compare, is_exact
from miap.server.matching.normalise import (
    NameVariants,
    default_variants,
    known_postcode,
    name_key,
    postcode_key,
    sound_key,
)
from miap.storage.models import Learner

#: The national service never returns more than this many possible matches.
MAX_MATCHES = 10
#: Candidates read per query at most; blocks are far smaller than this in practice.
CANDIDATE_LIMIT = 2000
WEIGHTS_ENV = "MIAP_MATCH_WEIGHTS"

NO_MATCH = "WSRC0001"
TOO_MANY = "WSRC0002"
POSSIBLE = "WSRC0003"
EXACT = "WSRC0004"


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


@dataclass(frozen=True)
class MatchWeights:
    """Score per field and agreement level, and the score a possible match must reach."""

    weights: dict[str, dict[str, float]]
    threshold: float

    @classmethod
    def load(cls, path: Path | None = None) -> MatchWeights:
        if path is None:
            override = os.environ.get(WEIGHTS_ENV)
            path = Path(override) if override else DEFAULT_WEIGHTS
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(weights=data["weights"], threshold=data["threshold"])

    def score(self, levels: dict[str, str]) -> float:
        return sum(self.weights[name][level] for name, level in levels.items())


DEFAULT_WEIGHTS = Path(str(files("miap.server"))) / "data" / "match_weights.json"


@dataclass(frozen=True)
class Scored:
    id: int
    uln: str
    levels: dict[str, str]
    score: float

    @property
    def exact(self) -> bool:
        return is_exact(self.levels)


_COLUMNS = (
    Learner.id,
    Learner.uln,
    Learner.given_key,
    Learner.family_key,
    Learner.previous_family_key,
    Learner.family_at16_key,
    Learner.date_of_birth,
    Learner.gender,
    Learner.postcode_key,
    Learner.merged_into_id,
    Learner.deleted_at,
)


def swapped_day_month(date: dt.date) -> dt.date | None:
    if date.day > 12 or date.day == date.month:
        return None
    return date.replace(month=date.day, day=date.month)


def one_digit_variants(date: dt.date, today: dt.date | None = None) -> set[dt.date]:
    """Real dates, 1900 to today, whose YYYYMMDD differs from ``date`` in one digit."""
    today = today or dt.date.today()
    digits = date.strftime("%Y%m%d")
    found = set()
    for position in range(8):
        for digit in "0123456789":
            if digit == digits[position]:
                continue
            text = digits[:position] + digit + digits[position + 1 :]
            try:
                variant = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
            except ValueError:
                continue
            if dt.date(1900, 1, 1) <= variant <= today:
                found.add(variant)
    return found


class ScoringMatcher:
    """Blocking, field comparison and fitted weights; see the module docstring."""

    def __init__(
        self, weights: MatchWeights | None = None, variants: NameVariants | None = None
    ) -> None:
        self.weights = weights or MatchWeights.load()
        self.variants = variants or default_variants()

    # -- candidates -----------------------------------------------------------------------

    def probe(self, query: Demographics) -> Probe:
        keys = query.keys
        return Probe(
            given=keys["given_key"],
            family=keys["family_key"],
            previous_family=keys["previous_family_key"],
            date_of_birth=query.date_of_birth,
            gender=query.gender,
            postcode=keys["postcode_key"],
        )

    def candidates(self, probe: Probe) -> Select:
        """Indexed blocks that hold every learner within one or two likely errors of ``probe``.

        Same or day/month-swapped birth date with the same Soundex of either name (either way
        round); or a birth date one digit away (or swapped) with both names' Soundex or with
        the same postcode. Never a scan of the register.
        """
        near = [probe.date_of_birth]
        if (swapped := swapped_day_month(probe.date_of_birth)) is not None:
            near.append(swapped)
        wide = sorted(set(near) | one_digit_variants(probe.date_of_birth))
        given_sound = sound_key(probe.given)
        family_sound = sound_key(probe.family)
        givens = {sound_key(key) for key in self.variants.variants(probe.given)}
        families = {family_sound, sound_key(probe.previous_family)}
        names = givens | families | {given_sound}
        names.discard(None)
        born = Learner.date_of_birth.in_(near)
        blocks = [
            born & Learner.family_sound.in_(sorted(names)),
            born & Learner.given_sound.in_(sorted(names)),
            Learner.date_of_birth.in_(wide)
            & or_(
                and_(Learner.family_sound == family_sound, Learner.given_sound == given_sound),
                and_(Learner.family_sound == given_sound, Learner.given_sound == family_sound),
            ),
        ]
        if known_postcode(probe.postcode):
            blocks.append(
                Learner.date_of_birth.in_(wide) & (Learner.postcode_key == probe.postcode)
            )
        # Merged duplicates and withdrawn ULNs are dropped after the read (see ``scored``):
        # a filter on them here would tempt SQLite into their mostly-NULL indexes.
        return select(*_COLUMNS).where(or_(*blocks)).limit(CANDIDATE_LIMIT)

    def scored(self, session: Session, query: Demographics) -> list[Scored]:
        """Every candidate with its levels and score, best first."""
        probe = self.probe(query)
        results = []
        for row in session.execute(self.candidates(probe)):
            if row.merged_into_id is not None or row.deleted_at is not None:
                continue
            stored = _stored(row)
            levels = compare(probe, stored, self.variants)
            results.append(Scored(row.id, row.uln, levels, self.weights.score(levels)))
        results.sort(key=lambda item: (-item.score, item.uln))
        return results

    # -- decisions ------------------------------------------------------------------------

    def decide(self, scored: list[Scored]) -> tuple[str, list[Scored]]:
        """The answer code and the candidates it returns, from scored candidates."""
        exact = [item for item in scored if item.exact]
        if len(exact) == 1:
            return EXACT, exact
        possible = [item for item in scored if item.score >= self.weights.threshold or item.exact]
        if not possible:
            return NO_MATCH, []
        if len(possible) > MAX_MATCHES:
            return TOO_MANY, []
        return POSSIBLE, possible

    def find(self, session: Session, query: Demographics) -> FindResult:
        code, chosen = self.decide(self.scored(session, query))
        if not chosen:
            return FindResult(code)
        rows = session.scalars(select(Learner).where(Learner.id.in_([c.id for c in chosen])))
        by_id = {learner.id: learner for learner in rows}
        return FindResult(code, [by_id[item.id] for item in chosen])

    def duplicate_of(
        self, session: Session, person: Demographics, exclude_id: int | None = None
    ) -> Learner | None:
        """A live learner the engine calls an exact match for ``person``, if any."""
        for item in self.scored(session, person):
            if item.exact and item.id != exclude_id:
                return session.get(Learner, item.id)
        return None

    # -- a stored learner against names (find by ULN, verify) -----------------------------

    def _name_levels(self, learner: Learner, given_name: str, family_name: str) -> dict:
        probe = Probe(
            given=name_key(given_name),
            family=name_key(family_name),
            previous_family=None,
            date_of_birth=learner.date_of_birth,
            gender=learner.gender,
            postcode=learner.postcode_key,
        )
        return compare(probe, _stored(learner), self.variants)

    def names_match(self, learner: Learner, given_name: str, family_name: str) -> bool:
        """Both names agree, allowing a name variant or a former family name."""
        levels = self._name_levels(learner, given_name, family_name)
        return levels["given"] in ("exact", "variant") and levels["family"] in (
            "exact",
            "previous",
        )

    def verify(self, learner: Learner, query: VerifyQuery) -> VerifyOutcome:
        levels = self._name_levels(learner, query.given_name, query.family_name)
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
        if levels["given"] == "exact" and levels["family"] == "exact":
            names = "match"
        elif levels["given"] in _SIMILAR_NAMES and levels["family"] in _SIMILAR_NAMES:
            names = "similar"
        else:
            names = "different"
        return VerifyOutcome(names, flags, dob_ok, gender_ok)


#: Name levels that verify as "similar" (WSVRC003): a variant, a slip, swapped, a former name.
_SIMILAR_NAMES = {"exact", "variant", "typo", "swapped", "previous"}


def _stored(row: Learner) -> Stored:
    """A learner, or a candidate row of ``_COLUMNS``, as comparison sees it."""
    return Stored(
        given=row.given_key,
        family=row.family_key,
        previous_family=row.previous_family_key,
        family_at16=row.family_at16_key,
        date_of_birth=row.date_of_birth,
        gender=row.gender,
        postcode=row.postcode_key,
    )
