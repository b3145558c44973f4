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
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Protocol

from sqlalchemy import CompoundSelect, Select, and_, bindparam, or_, select, union_all
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
from miap.server.outcomes import Disagreement, Outcome
from miap.storage.models import Learner

#: The national service never returns more than this many possible matches.
MAX_MATCHES = 10

NO_MATCH = Outcome.NO_MATCH
TOO_MANY = Outcome.TOO_MANY
POSSIBLE = Outcome.POSSIBLE
EXACT = Outcome.EXACT


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
    code: Outcome
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
    failure_flags: list[Disagreement]
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
        """The weights in ``path``, or the fitted file shipped with miap (the ``match_weights``
        setting chooses; see ``server/app.py``)."""
        data = json.loads((path or DEFAULT_WEIGHTS).read_text(encoding="utf-8"))
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
    Learner.middle_other_name,
    Learner.preferred_given_name,
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
    digits = date.strftime("%Y%m%d")
    texts = (
        digits[:position] + digit + digits[position + 1 :]
        for position in range(8)
        for digit in "0123456789"
        if digit != digits[position]
    )
    return _real_dates(texts, today)


def transposed_variants(date: dt.date, today: dt.date | None = None) -> set[dt.date]:
    """Real dates, 1900 to today, whose YYYYMMDD is ``date``'s with two adjacent digits
    exchanged (20070419 typed as 20070491 is no date; 20070412 as 20070421 is)."""
    digits = date.strftime("%Y%m%d")
    texts = (
        digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
        for i in range(7)
        if digits[i] != digits[i + 1]
    )
    return _real_dates(texts, today)


def _real_dates(texts: Iterable[str], today: dt.date | None) -> set[dt.date]:
    today = today or dt.date.today()
    found = set()
    for text in texts:
        try:
            date = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            continue
        if dt.date(1900, 1, 1) <= date <= today:
            found.add(date)
    return found


#: Rows each date-free block reads at most: the holders of the searched name pair born on or
#: after the searched date, and as many born before it (nearest first), the holders of a
#: variant or former-name pair, the crossed pair, and the learners at the searched postcode.
#: A pair or a postcode shared by more learners than this carries little evidence without the
#: date, so reading all of them (about 2,000 holders of a common pair at 1M) buys nothing.
PAIR_LIMIT = 25
POSTCODE_LIMIT = 50
#: Rows the date blocks read at most (a near or wide date with a Soundex code: a few dozen).
DATE_LIMIT = 500


def _capped(statement: Select, limit: int) -> Select:
    """``statement`` with its own LIMIT, as a member a UNION ALL can hold on every backend."""
    inner = statement.limit(limit).subquery()
    return select(*inner.c)


@functools.cache
def candidate_statement(with_postcode: bool, bounded: bool = False) -> CompoundSelect:
    """The blocking query, built once per shape with bound parameters (lists expand at
    execution), so SQLAlchemy compiles it once and serves it from its statement cache.

    A UNION ALL of blocks, each read through an index (never a scan of the register) and each
    with its own LIMIT, so no block reads more than a few dozen rows whatever the register's
    size (a learner found by two blocks comes twice; ``scored`` keeps one):

    * a near birth date (the same, or day and month swapped) with the Soundex of either name
      in either field (``ix_learners_dob_family_sound``, ``ix_learners_dob_given_sound``);
    * a wide birth date (near, one digit wrong, two adjacent digits transposed) with both
      names' Soundex, either way round (``ix_learners_sounds_dob``);
    * any birth date with the exact name pair (``uq_learners_identity``, whose leading columns
      are the two name keys and then the date): the ``PAIR_LIMIT`` holders born nearest on
      either side of the searched date, read in index order (a range scan, no sort);
    * any birth date with the given name or a variant of it and the family name or the
      previous one, or the pair crossed (the same index), ``PAIR_LIMIT`` each;
    * any birth date at the same postcode, with the Soundex of either name in either field or
      a wide birth date (``ix_learners_postcode``), ``POSTCODE_LIMIT`` at most.

    ``bounded``: every block reads only learners with ``id <= :high_id`` (a bulk load matches
    against the register as it stood when the load began). The bound sits inside each block,
    before its LIMIT, so later learners cannot crowd earlier ones out of a block; it is written
    ``id + 0`` so that no planner takes it for an index range and scans the register by id.
    """
    near = Learner.date_of_birth.in_(bindparam("near", expanding=True))
    wide = Learner.date_of_birth.in_(bindparam("wide", expanding=True))
    sounds = bindparam("sounds", expanding=True)
    given_sound, family_sound = bindparam("given_sound"), bindparam("family_sound")
    given, family, born = bindparam("given"), bindparam("family"), bindparam("born")
    rows = select(*_COLUMNS)
    if bounded:
        rows = rows.where(Learner.id + 0 <= bindparam("high_id"))
    pair = rows.where(Learner.given_key == given, Learner.family_key == family)
    blocks = [
        _capped(
            rows.where(
                or_(
                    near & Learner.family_sound.in_(sounds),
                    near & Learner.given_sound.in_(sounds),
                    wide
                    & or_(
                        and_(
                            Learner.family_sound == family_sound,
                            Learner.given_sound == given_sound,
                        ),
                        and_(
                            Learner.family_sound == given_sound,
                            Learner.given_sound == family_sound,
                        ),
                    ),
                )
            ),
            DATE_LIMIT,
        ),
        _capped(
            pair.where(Learner.date_of_birth >= born).order_by(Learner.date_of_birth),
            PAIR_LIMIT,
        ),
        _capped(
            pair.where(Learner.date_of_birth < born).order_by(Learner.date_of_birth.desc()),
            PAIR_LIMIT,
        ),
        _capped(
            rows.where(
                Learner.given_key.in_(bindparam("givens", expanding=True)),
                Learner.family_key.in_(bindparam("families", expanding=True)),
            ),
            PAIR_LIMIT,
        ),
        _capped(
            rows.where(Learner.given_key == family, Learner.family_key == given),
            PAIR_LIMIT,
        ),
    ]
    if with_postcode:
        blocks.append(
            _capped(
                rows.where(
                    Learner.postcode_key == bindparam("postcode"),
                    or_(Learner.family_sound.in_(sounds), Learner.given_sound.in_(sounds), wide),
                ),
                POSTCODE_LIMIT,
            )
        )
    # Merged duplicates and withdrawn ULNs are dropped after the read (see ``scored``):
    # a filter on them here would tempt SQLite into their mostly-NULL indexes.
    return union_all(*blocks)


#: How rare the searched name pair is, for a candidate holding it: a pair only one learner
#: holds says more than one shared by a few, and that more than one shared by many (a
#: term-frequency adjustment of the name weights). ``common``: at least ``PAIR_LIMIT`` holders.
PAIR_LEVELS = ("unique", "few", "several", "common", "other")
#: The fewest holders of a pair at each level (the counts are exact below ``PAIR_LIMIT``).
PAIR_BOUNDS = (("common", PAIR_LIMIT), ("several", 5), ("few", 2), ("unique", 1))


def pair_level(levels: dict[str, str], holders: int) -> str:
    """How many learners (``holders``, as read) hold the searched pair, for a candidate with
    both names exactly as searched; ``other`` for everyone else."""
    if levels["given"] != "exact" or levels["family"] != "exact":
        return "other"
    return next(level for level, fewest in PAIR_BOUNDS if holders >= fewest)


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

    def candidates(
        self, probe: Probe, up_to_id: int | None = None
    ) -> tuple[CompoundSelect, dict[str, object]]:
        """The blocking statement for ``probe`` (see ``candidate_statement``) and its values;
        ``up_to_id`` limits the candidates to learners with an id no higher."""
        born = probe.date_of_birth
        near = {born}
        if (swapped := swapped_day_month(born)) is not None:
            near.add(swapped)
        wide = near | one_digit_variants(born) | transposed_variants(born)
        given_sound, family_sound = sound_key(probe.given), sound_key(probe.family)
        givens = self.variants.variants(probe.given) | {probe.given}
        families = {probe.family, probe.previous_family}
        sounds = {sound_key(key) for key in givens | families}
        values: dict[str, object] = {
            "near": sorted(near),
            "wide": sorted(wide),
            "sounds": sorted(sounds - {None}),
            "given_sound": given_sound,
            "family_sound": family_sound,
            "givens": sorted(givens - {None}),
            "families": sorted(families - {None}),
            "given": probe.given,
            "family": probe.family,
            "born": born,
        }
        postcode = known_postcode(probe.postcode)
        if postcode:
            values["postcode"] = postcode
        if up_to_id is not None:
            values["high_id"] = up_to_id
        return candidate_statement(bool(postcode), up_to_id is not None), values

    def scored(
        self, session: Session, query: Demographics, up_to_id: int | None = None
    ) -> list[Scored]:
        """Every candidate with its levels and score, best first (``up_to_id``: see
        ``candidates``)."""
        probe = self.probe(query)
        results = []
        statement, values = self.candidates(probe, up_to_id)
        seen: set[int] = set()
        rows = []
        for row in session.execute(statement, values):
            if row.id not in seen and row.merged_into_id is None and row.deleted_at is None:
                seen.add(row.id)
                rows.append(row)
        # Holders of the searched name pair read (all of them, up to 2 * PAIR_LIMIT).
        holders = sum(
            row.given_key == probe.given and row.family_key == probe.family for row in rows
        )
        for row in rows:
            levels = compare(probe, _stored(row), self.variants)
            levels["pair"] = pair_level(levels, holders)
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
        flags: list[Disagreement] = []
        # Each incoming name against the stored given, family and previous family names; a
        # comparison with nothing stored (no previous family name) raises no flag.
        for incoming, against in ((given, _GIVEN_AGAINST), (family, _FAMILY_AGAINST)):
            for value, disagreement in zip(stored, against, strict=True):
                if value is not None and incoming != value:
                    flags.append(disagreement)
        dob_ok = query.date_of_birth is None or query.date_of_birth == learner.date_of_birth
        gender_ok = query.gender is None or query.gender == learner.gender
        if not dob_ok:
            flags.append(Disagreement.DATE_OF_BIRTH)
        if not gender_ok:
            flags.append(Disagreement.GENDER)
        if levels["given"] == "exact" and levels["family"] == "exact":
            names = "match"
        elif levels["given"] in _SIMILAR_NAMES and levels["family"] in _SIMILAR_NAMES:
            names = "similar"
        else:
            names = "different"
        return VerifyOutcome(names, flags, dob_ok, gender_ok)


_GIVEN_AGAINST = (
    Disagreement.GIVEN_VS_GIVEN,
    Disagreement.GIVEN_VS_FAMILY,
    Disagreement.GIVEN_VS_PREVIOUS,
)
_FAMILY_AGAINST = (
    Disagreement.FAMILY_VS_GIVEN,
    Disagreement.FAMILY_VS_FAMILY,
    Disagreement.FAMILY_VS_PREVIOUS,
)

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
        other_givens=other_given_keys(row.middle_other_name, row.preferred_given_name),
    )


def other_given_keys(*names: str | None) -> frozenset[str]:
    """Keys of a learner's middle and preferred names, each word and the whole."""
    keys = set()
    for name in names:
        if name:
            keys.update(name_key(part) for part in (name, *name.split()))
    return frozenset(keys - {None})
