"""The SQL bounds of the engine's weights (``server/matching/bounds.py``) are never below the
weight the engine's comparison gives, over pairs chosen to meet every level of each field:
a set-based screen that trusts them never settles a row the engine would have matched."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from miap.server.matching.bounds import ScoreBounds, yyyymmdd
from miap.server.matching.comparison import dob_level, gender_level, postcode_level
from miap.server.matching.engine import MatchWeights
from miap.storage.engine import Database
from tests.conftest import _postgres_database

pytestmark = pytest.mark.postgresql

WEIGHTS = MatchWeights.load()
BOUNDS = ScoreBounds(WEIGHTS)


@pytest.fixture(scope="module")
def pg() -> Iterator[Database]:
    urls = _postgres_database()
    database = Database(next(urls))
    yield database
    database.dispose()
    urls.close()


def _near_dates(rng: random.Random) -> list[tuple[dt.date, dt.date]]:
    """Pairs at every level: the same, swapped, a digit or two out, transposed, partial."""
    pairs = []
    for _ in range(400):
        a = dt.date(1995, 1, 1) + dt.timedelta(days=rng.randint(0, 9000))
        text_a = a.strftime("%Y%m%d")
        candidates = [a, a.replace(year=a.year + rng.choice((-1, 1, 10)), day=min(a.day, 28))]
        if a.day <= 12:
            candidates.append(a.replace(month=a.day, day=a.month))
        for place in range(8):
            digits = list(text_a)
            digits[place] = str((int(digits[place]) + rng.randint(1, 9)) % 10)
            candidates.append("".join(digits))
        for _ in range(6):  # two digits out, adjacent or not (a transposition or not)
            digits = list(text_a)
            first = rng.randint(0, 6)
            for place in (first, rng.choice((first + 1, rng.randint(first + 1, 7)))):
                digits[place] = str((int(digits[place]) + rng.randint(1, 9)) % 10)
            candidates.append("".join(digits))
        for place in range(7):
            digits = list(text_a)
            digits[place], digits[place + 1] = digits[place + 1], digits[place]
            candidates.append("".join(digits))
        candidates += [
            a.replace(day=rng.randint(1, 28)),
            a.replace(month=rng.randint(1, 12), day=min(a.day, 28)),
            a + dt.timedelta(days=rng.randint(1, 20000)),
        ]
        for b in candidates:
            if isinstance(b, str):
                try:
                    b = dt.datetime.strptime(b, "%Y%m%d").date()
                except ValueError:
                    continue
            if b.year >= 1900:  # as every stored birth date is
                pairs.append((a, b))
    return pairs


def _postcodes(rng: random.Random) -> list[tuple[str | None, str | None]]:
    """Keys the same, in one sector, district or area, elsewhere, unknown and missing."""
    keys = ["LS61AB", "LS61AD", "LS62AB", "LS96XY", "L11AA", "B152TT", "BS81TH", "W1A1AA",
            "EX44QJ", "M145RT", "ZZ999ZZ", None]  # fmt: skip
    return [(a, b) for a in keys for b in keys] + [
        (rng.choice(keys), rng.choice(keys)) for _ in range(50)
    ]


def _at_least(pg: Database, expression: str, pairs: list[tuple], kind: str) -> list:
    """Each pair's bound, computed by PostgreSQL, in order."""
    with pg.reading() as session:
        return list(
            session.scalars(
                text(
                    f"SELECT {expression} FROM unnest(CAST(:a AS {kind}[]), "
                    f"CAST(:b AS {kind}[])) WITH ORDINALITY AS v(a, b, n) ORDER BY v.n"
                ),
                {"a": [a for a, _ in pairs], "b": [b for _, b in pairs]},
            )
        )


def test_the_birth_date_bound_is_the_engines_weight(pg):
    pairs = _near_dates(random.Random(3))
    found = _at_least(pg, BOUNDS.dob(yyyymmdd("v.a"), yyyymmdd("v.b")), pairs, "date")
    levels = {dob_level(a, b) for a, b in pairs}
    assert levels == set(WEIGHTS.weights["dob"]), "the pairs meet every level"
    differing = [
        (a, b, bound, dob_level(a, b))
        for (a, b), bound in zip(pairs, found, strict=True)
        if bound != WEIGHTS.weights["dob"][dob_level(a, b)]
    ]
    assert differing == []


def test_the_postcode_bound_is_at_least_the_engines_weight(pg):
    pairs = _postcodes(random.Random(4))
    found = _at_least(pg, BOUNDS.postcode("v.a", "v.b"), pairs, "text")
    levels = {postcode_level(a, b) for a, b in pairs}
    assert levels == set(WEIGHTS.weights["postcode"]), "the pairs meet every level"
    assert [
        (a, b)
        for (a, b), bound in zip(pairs, found, strict=True)
        if bound < WEIGHTS.weights["postcode"][postcode_level(a, b)]
    ] == []


def test_the_gender_bound_is_the_engines_weight(pg):
    pairs = [(a, b) for a in "0129" for b in "0129"]
    found = _at_least(pg, BOUNDS.gender("v.a", "v.b"), pairs, "text")
    assert found == [WEIGHTS.weights["gender"][gender_level(a, b)] for a, b in pairs]


def test_the_pair_bound_is_the_level_of_the_live_holders_or_the_most(pg):
    counts = [(1, 1), (2, 2), (4, 4), (5, 5), (24, 24), (25, 25), (300, 300), (30, 31), (1, 2)]
    found = _at_least(pg, BOUNDS.pair("v.a", "v.b"), counts, "int")
    pair = WEIGHTS.weights["pair"]
    most = max(pair.values())
    expected = [pair["unique"], pair["few"], pair["few"], pair["several"], pair["several"]]
    expected += [pair["common"], pair["common"], most, most]
    assert found == expected
