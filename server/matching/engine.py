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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Protocol

from sqlalchemy import (
    ARRAY,
    JSON,
    ColumnElement,
    CompoundSelect,
    Date,
    Integer,
    Row,
    Select,
    String,
    TableValuedAlias,
    and_,
    any_,
    bindparam,
    cast,
    column,
    func,
    or_,
    select,
    text,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from miap.server.matching.comparison import (
    Probe,
    Stored,
    compare,
    dob_level,
    gender_level,
    is_exact,
    postcode_level,
)
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

    @classmethod
    def of(cls, source: object) -> Demographics:
        """The demographics held by anything with these attributes (a staged census row, a
        pupil, a synthetic person); the former family names are optional."""
        return cls(
            given_name=source.given_name,
            family_name=source.family_name,
            date_of_birth=source.date_of_birth,
            gender=source.gender,
            postcode=source.postcode,
            previous_family_name=getattr(source, "previous_family_name", None),
            family_name_at_age16=getattr(source, "family_name_at_age16", None),
        )

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


def reaching_keys(learner: Learner | dict[str, object]) -> set[tuple]:
    """The keys by which ``learner`` (a learner, or a ``Demographics.keys`` with its
    ``date_of_birth``) enters a search's blocks (see ``ScoringMatcher.reach``)."""
    get = learner.get if isinstance(learner, dict) else functools.partial(getattr, learner)
    born, given_sound, family_sound = (
        get("date_of_birth"),
        get("given_sound"),
        get("family_sound"),
    )
    return {
        ("pair", get("given_key"), get("family_key")),
        ("sound", born, given_sound),
        ("sound", born, family_sound),
        ("sounds", born, family_sound, given_sound),
        ("postcode", get("postcode_key")),
    }


class Matcher(Protocol):
    def find(self, session: Session, query: Demographics) -> FindResult: ...

    def find_many(self, session: Session, queries: Sequence[Demographics]) -> list[FindResult]: ...

    def reach(self, query: Demographics) -> frozenset[tuple]: ...

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
#: The names of ``_COLUMNS``: what a set-based reading of candidates must select.
CANDIDATE_COLUMNS = tuple(column.name for column in _COLUMNS)


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


@functools.lru_cache(maxsize=65536)
def _slips(date: dt.date, today: dt.date) -> frozenset[dt.date]:
    """The dates a digit slip away from ``date`` (memoised: a bulk load's searches share a few
    thousand birth dates)."""
    return frozenset(one_digit_variants(date, today) | transposed_variants(date, today))


def _real_dates(texts: Iterable[str], today: dt.date | None) -> set[dt.date]:
    today = today or dt.date.today()
    found = set()
    for digits in texts:
        try:
            date = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
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
#: Searches ``scored_many`` reads in one statement on PostgreSQL.
MANY_PROBES = 500


class _DaysApart(FunctionElement):
    """Days between two dates, on each backend (a variant block reads the nearest first)."""

    type = Integer()
    inherit_cache = True


@compiles(_DaysApart)
def _days_apart(element: _DaysApart, compiler: SQLCompiler, **kw: object) -> str:
    first, second = (compiler.process(item, **kw) for item in element.clauses)
    return f"abs({first} - {second})"


@compiles(_DaysApart, "sqlite")
def _days_apart_sqlite(element: _DaysApart, compiler: SQLCompiler, **kw: object) -> str:
    first, second = (compiler.process(item, **kw) for item in element.clauses)
    return f"abs(julianday({first}) - julianday({second}))"


def _capped(statement: Select, limit: int) -> Select:
    """``statement`` with its own LIMIT, as a member a UNION ALL can hold on every backend."""
    inner = statement.limit(limit).subquery()
    return select(*inner.c)


class _Values:
    """Where the blocks read the searched values: bound parameters (one probe; lists expand
    at execution) or, through ``_Columns``, a probes table (many probes, ``scored_many``)."""

    def one(self, name: str) -> ColumnElement:
        return bindparam(name)

    def among(self, column: ColumnElement, name: str) -> ColumnElement:
        return column.in_(bindparam(name, expanding=True))

    def reading(self, rows: Select) -> Select:
        return rows


class _Columns(_Values):
    def __init__(self, probes: TableValuedAlias) -> None:
        self.probes = probes

    def one(self, name: str) -> ColumnElement:
        return self.probes.c[name]

    def among(self, column: ColumnElement, name: str) -> ColumnElement:
        return column == any_(self.probes.c[name])

    def reading(self, rows: Select) -> Select:
        return rows.correlate(self.probes)


def _blocks(values: _Values, bounded: bool) -> list[Select]:
    """The blocks of ``candidate_statement`` (the postcode block last), reading ``values``."""
    one, among = values.one, values.among
    near, wide = among(Learner.date_of_birth, "near"), among(Learner.date_of_birth, "wide")
    given_sound, family_sound = one("given_sound"), one("family_sound")
    given, family, born = one("given"), one("family"), one("born")
    rows = values.reading(select(*_COLUMNS))
    if bounded:
        rows = rows.where(Learner.id + 0 <= bindparam("high_id"))
    pair = rows.where(Learner.given_key == given, Learner.family_key == family)
    any_sound = or_(among(Learner.family_sound, "sounds"), among(Learner.given_sound, "sounds"))
    return [
        _capped(
            rows.where(
                or_(
                    near & among(Learner.family_sound, "sounds"),
                    near & among(Learner.given_sound, "sounds"),
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
                or_(
                    among(Learner.given_key, "variants") & among(Learner.family_key, "families"),
                    (Learner.given_key == given) & among(Learner.family_key, "former"),
                )
            ).order_by(_DaysApart(Learner.date_of_birth, type_coerce(born, Date())), Learner.id),
            PAIR_LIMIT,
        ),
        _capped(
            rows.where(Learner.given_key == family, Learner.family_key == given),
            PAIR_LIMIT,
        ),
        _capped(
            rows.where(Learner.postcode_key == one("postcode"), or_(any_sound, wide)),
            POSTCODE_LIMIT,
        ),
    ]


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
    * any birth date with a variant of the given name and the family name or the previous
      one, or the given name and the previous family name (the same index), the
      ``PAIR_LIMIT`` born nearest the searched date (the exact pair is the blocks above'), and
      the pair crossed, ``PAIR_LIMIT``;
    * any birth date at the same postcode, with the Soundex of either name in either field or
      a wide birth date (``ix_learners_postcode``), ``POSTCODE_LIMIT`` at most.

    ``bounded``: every block reads only learners with ``id <= :high_id`` (a bulk load matches
    against the register as it stood when the load began). The bound sits inside each block,
    before its LIMIT, so later learners cannot crowd earlier ones out of a block; it is written
    ``id + 0`` so that no planner takes it for an index range and scans the register by id.
    """
    blocks = _blocks(_Values(), bounded)
    # Merged duplicates and withdrawn ULNs are dropped after the read (see ``scored``):
    # a filter on them here would tempt SQLite into their mostly-NULL indexes.
    return union_all(*(blocks if with_postcode else blocks[:-1]))


#: The searched values of one probe in ``many_candidates_statement``'s probes table.
PROBE_TYPES = {
    "probe": Integer(),
    "near": ARRAY(Date()),
    "wide": ARRAY(Date()),
    "sounds": ARRAY(String()),
    "given_sound": String(),
    "family_sound": String(),
    "variants": ARRAY(String()),
    "families": ARRAY(String()),
    "former": ARRAY(String()),
    "given": String(),
    "family": String(),
    "born": Date(),
    "postcode": String(),
}


@functools.cache
def many_candidates_statement(bounded: bool = False) -> Select:
    """``candidate_statement`` for many probes in one statement (PostgreSQL): the probes come
    as one JSON array (``json_to_recordset``) and every block runs for each of them through a
    LATERAL join, with its LIMIT per probe, so a chunk of searches costs one round trip and one
    plan instead of one each. Each row carries its probe's number (``probe``); a probe with no
    known postcode has a NULL one, which the postcode block's equality never meets."""
    probes = (
        func.json_to_recordset(cast(bindparam("probes", type_=String()), JSON()))
        .table_valued(*(column(name, type_) for name, type_ in PROBE_TYPES.items()))
        .render_derived(name="probes", with_types=True)
    )
    found = union_all(*_blocks(_Columns(probes), bounded)).lateral("found")
    return select(probes.c.probe, found).select_from(probes.join(found, true()))


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
        # The most the names of any candidate can add (given, family, the pair's rarity).
        self._names_at_most = sum(
            max(self.weights.weights.get(name, {None: 0.0}).values())
            for name in ("given", "family", "pair")
        )

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

    def searched(self, probe: Probe) -> dict[str, object]:
        """The values the blocks search for ``probe`` (see ``candidate_statement``); a probe
        with no known postcode has ``postcode`` None."""
        born = probe.date_of_birth
        near = {born}
        if (swapped := swapped_day_month(born)) is not None:
            near.add(swapped)
        wide = near | _slips(born, dt.date.today())
        variants = self.variants.variants(probe.given) - {probe.given, None}
        families = {probe.family, probe.previous_family} - {None}
        sounds = {sound_key(key) for key in variants | families | {probe.given}}
        return {
            "near": sorted(near),
            "wide": sorted(wide),
            "sounds": sorted(sounds - {None}),
            "given_sound": sound_key(probe.given),
            "family_sound": sound_key(probe.family),
            "variants": sorted(variants),
            "families": sorted(families),
            "former": sorted(families - {probe.family}),
            "given": probe.given,
            "family": probe.family,
            "born": born,
            "postcode": known_postcode(probe.postcode),
        }

    def candidates(
        self, probe: Probe, up_to_id: int | None = None
    ) -> tuple[CompoundSelect, dict[str, object]]:
        """The blocking statement for ``probe`` (see ``candidate_statement``) and its values;
        ``up_to_id`` limits the candidates to learners with an id no higher."""
        values = self.searched(probe)
        postcode = values["postcode"] is not None
        if not postcode:
            del values["postcode"]
        if up_to_id is not None:
            values["high_id"] = up_to_id
        return candidate_statement(postcode, up_to_id is not None), values

    def scored(
        self,
        session: Session,
        query: Demographics,
        up_to_id: int | None = None,
        decisive: bool = False,
    ) -> list[Scored]:
        """Every candidate with its levels and score, best first (``up_to_id``: see
        ``candidates``; ``decisive``: only those a decision could return)."""
        probe = self.probe(query)
        statement, values = self.candidates(probe, up_to_id)
        return self._score(probe, session.execute(statement, values), decisive)

    def scored_many(
        self,
        session: Session,
        queries: Sequence[Demographics],
        up_to_id: int | None = None,
        decisive: bool = False,
    ) -> list[list[Scored]]:
        """``scored`` for each of ``queries``, in order. On PostgreSQL the candidates of up
        to ``MANY_PROBES`` queries are read in one statement (``many_candidates_statement``);
        elsewhere one query at a time."""
        if session.get_bind().dialect.name != "postgresql":
            return [self.scored(session, query, up_to_id, decisive) for query in queries]
        answers: list[list[Scored]] = []
        for start in range(0, len(queries), MANY_PROBES):
            probes = [self.probe(query) for query in queries[start : start + MANY_PROBES]]
            table = json.dumps(
                [{**self.searched(probe), "probe": n} for n, probe in enumerate(probes)],
                default=dt.date.isoformat,
            )
            rows: list[list] = [[] for _ in probes]
            # The plan's estimated cost (a hundred probes assumed) crosses the JIT threshold;
            # compiling it would take longer than running it.
            connection = session.connection()  # Core rows: the ORM's loading costs more here
            connection.execute(text("SET LOCAL jit = off"))
            values = {"probes": table, "high_id": up_to_id}
            statement = many_candidates_statement(up_to_id is not None)
            for row in connection.execute(statement, values):
                rows[row.probe].append(row)
            answers += [
                self._score(p, found, decisive) for p, found in zip(probes, rows, strict=True)
            ]
        return answers

    def _score(self, probe: Probe, found: Iterable, decisive: bool = False) -> list[Scored]:
        """Candidate rows (``_COLUMNS``) as read, scored: each live learner once, best first;
        ``decisive``: only those a decision could return (see ``_out_of_reach``)."""
        seen: set[int] = set()
        rows = []
        for row in found:
            if row.id not in seen and row.merged_into_id is None and row.deleted_at is None:
                seen.add(row.id)
                rows.append(row)
        # Holders of the searched name pair read (all of them, up to 2 * PAIR_LIMIT).
        holders = sum(
            row.given_key == probe.given and row.family_key == probe.family for row in rows
        )
        results = []
        for row in rows:
            if decisive and self._out_of_reach(probe, row):
                continue
            levels = compare(probe, _stored(row), self.variants)
            levels["pair"] = pair_level(levels, holders)
            results.append(Scored(row.id, row.uln, levels, self.weights.score(levels)))
        results.sort(key=lambda item: (-item.score, item.uln))
        return results

    def _out_of_reach(self, probe: Probe, row: Row) -> bool:
        """True when ``row`` can be neither exact nor at the threshold whatever its names
        score: its birth date, gender and postcode (cheap to compare) plus the most any names
        can weigh fall short. The names, the costly comparison, are then not compared."""
        dob = dob_level(probe.date_of_birth, row.date_of_birth)
        postcode = postcode_level(probe.postcode, row.postcode_key)
        if dob == "exact" and postcode == "exact":
            return False
        weights = self.weights.weights
        rest = weights["dob"][dob] + weights["postcode"][postcode]
        rest += weights["gender"][gender_level(probe.gender, row.gender)]
        # A hair of slack: the sum here runs in another order than ``MatchWeights.score``'s.
        return rest + self._names_at_most < self.weights.threshold - 1e-9

    def could_return(self, probe: Probe, row: Row) -> bool:
        """Whether the engine could return candidate ``row`` (of ``_COLUMNS``, live, not
        holding ``probe``'s name pair, so its pair level is ``other``) for ``probe``: it
        could be exact, or it scores at the threshold."""
        levels = compare(probe, _stored(row), self.variants)
        levels["pair"] = "other"
        return is_exact(levels) or self.weights.score(levels) >= self.weights.threshold

    def reach(self, query: Demographics) -> frozenset[tuple]:
        """Every key by which a learner can enter ``query``'s blocks: the equalities of
        ``candidate_statement``'s blocks, as tuples that ``reaching_keys`` of a learner meets
        (a superset of the blocks: the postcode block also asks for a Soundex code or a wide
        date). A learner none of whose keys is here is no candidate for ``query``, so writing
        one cannot change its answer."""
        values = self.searched(self.probe(query))
        given, family = values["given"], values["family"]
        given_sound, family_sound = values["given_sound"], values["family_sound"]
        keys: set[tuple] = {("pair", family, given)}
        keys.update(
            ("pair", g, f) for g in (given, *values["variants"]) for f in values["families"]
        )
        keys.update(("sound", born, s) for born in values["near"] for s in values["sounds"])
        for born in values["wide"]:
            keys.add(("sounds", born, family_sound, given_sound))
            keys.add(("sounds", born, given_sound, family_sound))
        if values["postcode"] is not None:
            keys.add(("postcode", values["postcode"]))
        return frozenset(keys)

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
        return self._found(session, [self.decide(self.scored(session, query, decisive=True))])[0]

    def find_many(self, session: Session, queries: Sequence[Demographics]) -> list[FindResult]:
        """``find`` for each of ``queries``, their candidates read together (``scored_many``)."""
        scored = self.scored_many(session, queries, decisive=True)
        return self._found(session, [self.decide(each) for each in scored])

    @staticmethod
    def _found(session: Session, decided: list[tuple[str, list[Scored]]]) -> list[FindResult]:
        """The answers, with the learners they return loaded in one query."""
        wanted = {item.id for _, chosen in decided for item in chosen}
        by_id = {}
        if wanted:
            rows = session.scalars(select(Learner).where(Learner.id.in_(sorted(wanted))))
            by_id = {learner.id: learner for learner in rows}
        return [FindResult(code, [by_id[item.id] for item in chosen]) for code, chosen in decided]

    def duplicate_of(
        self, session: Session, person: Demographics, exclude_id: int | None = None
    ) -> Learner | None:
        """A live learner the engine calls an exact match for ``person``, if any."""
        for item in self.scored(session, person, decisive=True):
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


@functools.lru_cache(maxsize=65536)
def other_given_keys(*names: str | None) -> frozenset[str]:
    """Keys of a learner's middle and preferred names, each word and the whole."""
    keys = set()
    for name in names:
        if name:
            keys.update(name_key(part) for part in (name, *name.split()))
    return frozenset(keys - {None})
