"""Field-by-field comparison of a query with a stored learner, as discrete agreement levels.

Each field's level is what the scoring weights (``server/data/match_weights.json``) are indexed
by. The levels follow the real errors seen in learner data: typing slips, swapped given and
family names, one name typed into the other field, a changed family name, day and month
swapped, one wrong or two transposed digits in a date, a date right only in part (year and
month, month and day, or the year alone), a postcode moved (within its sector, district or
area, or further) or missing, and an unknown gender.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from rapidfuzz.distance import OSA, JaroWinkler

from miap.server.matching.normalise import NameVariants, known_postcode

#: Levels per field, best first. ``different``/``mismatch`` is the floor of every field.
LEVELS = {
    "given": (
        "exact",
        "variant",
        "other_name",
        "typo",
        "similar",
        "swapped",
        "crossed",
        "new",
        "different",
    ),
    "family": ("exact", "previous", "typo", "similar", "swapped", "crossed", "new", "different"),
    "dob": (
        "exact",
        "swapped_dm",
        "transposed",
        "one_digit",
        "year_month",
        "month_day",
        "year",
        "different",
    ),
    "gender": ("match", "unknown", "mismatch"),
    "postcode": ("exact", "sector", "district", "area", "missing", "different"),
}
#: Levels that still count as agreement when deciding an exact match.
EXACT_LEVELS = {
    "given": {"exact", "variant"},
    "family": {"exact"},
    "dob": {"exact"},
    "gender": {"match", "unknown"},
    "postcode": {"exact"},
}
_UNKNOWN_GENDERS = {"0", "9"}
_SIMILAR = 0.88


@dataclass(frozen=True)
class Probe:
    """The normalised query."""

    given: str | None
    family: str | None
    previous_family: str | None
    date_of_birth: dt.date
    gender: str
    postcode: str | None


@dataclass(frozen=True)
class Stored:
    """The normalised columns of a stored learner that comparison needs."""

    given: str | None
    family: str | None
    previous_family: str | None
    family_at16: str | None
    date_of_birth: dt.date
    gender: str
    postcode: str | None
    #: Keys of the learner's middle and preferred names: a given name typed as one of them is
    #: ``other_name`` (their own other name, never exact), not ``different``.
    other_givens: frozenset[str] = frozenset()


def _name_level(query: str | None, stored: str | None) -> str:
    if not query or not stored:
        return "different"
    if query == stored:
        return "exact"
    if OSA.distance(query, stored) <= 1 and min(len(query), len(stored)) >= 3:
        return "typo"
    if JaroWinkler.similarity(query, stored) >= _SIMILAR:
        return "similar"
    return "different"


def given_level(query: str | None, stored: str | None, variants: NameVariants) -> str:
    level = _name_level(query, stored)
    if level != "exact" and variants.equivalent(query, stored):
        return "variant"
    return level


def family_level(probe: Probe, stored: Stored) -> str:
    level = _name_level(probe.family, stored.family)
    if level == "exact":
        return level
    former = {stored.previous_family, stored.family_at16} - {None}
    if probe.family in former or (
        probe.previous_family is not None
        and (probe.previous_family == stored.family or probe.previous_family in former)
    ):
        return "previous"
    return level


@functools.lru_cache(maxsize=65536)
def _digits(date: dt.date) -> str:
    """YYYYMMDD (memoised: a register holds a few thousand birth dates per year of birth)."""
    return date.strftime("%Y%m%d")


def dob_level(query: dt.date, stored: dt.date) -> str:
    """Whole agreement, the usual slips (day/month swapped, adjacent digits transposed, one
    wrong digit), then partial agreement: the year and month, the month and day, the year."""
    if query == stored:
        return "exact"
    if query.year == stored.year and (query.month, query.day) == (stored.day, stored.month):
        return "swapped_dm"
    a, b = _digits(query), _digits(stored)
    wrong = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(wrong) == 2 and wrong[1] == wrong[0] + 1 and a[wrong[0]] == b[wrong[1]]:
        return "transposed"
    if len(wrong) == 1:
        return "one_digit"
    if (query.year, query.month) == (stored.year, stored.month):
        return "year_month"
    if (query.month, query.day) == (stored.month, stored.day):
        return "month_day"
    if query.year == stored.year:
        return "year"
    return "different"


def gender_level(query: str, stored: str) -> str:
    if query in _UNKNOWN_GENDERS or stored in _UNKNOWN_GENDERS:
        return "unknown"
    return "match" if query == stored else "mismatch"


def postcode_level(query: str | None, stored: str | None) -> str:
    """Postcodes compared by unit, sector (outward code + first inward digit), district
    (outward code) and area (the outward code's leading letters): a learner who moved has
    usually moved nearby."""
    query, stored = known_postcode(query), known_postcode(stored)
    if not query or not stored:
        return "missing"
    if query == stored:
        return "exact"
    if query[:-3] == stored[:-3]:
        return "sector" if query[-3] == stored[-3] else "district"
    if _area(query) == _area(stored):
        return "area"
    return "different"


def _area(postcode: str) -> str:
    """The postcode area: the letters the outward code starts with (``LS`` of ``LS61AB``)."""
    letters = len(postcode) - len(postcode.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    return postcode[:letters]


_NAME_AGREEMENT = {"exact", "variant", "other_name", "typo", "previous"}


def compare(probe: Probe, stored: Stored, variants: NameVariants) -> dict[str, str]:
    """The agreement level of every field.

    When the names do not both agree as written, they are tried crossed: both agreeing the
    other way round is ``swapped``; one name agreeing with the other field (typed there while
    the field it belongs to holds something new) is ``crossed`` for the field it was typed in,
    and the field holding the new name is ``new`` rather than ``different``: its disagreement
    is part of the same error, whose evidence the ``crossed`` weight already carries. A given
    name that is the learner's stored middle or preferred name is ``other_name``.
    """
    given = given_level(probe.given, stored.given, variants)
    if given not in _NAME_AGREEMENT and probe.given and probe.given in stored.other_givens:
        given = "other_name"
    family = family_level(probe, stored)
    if not (given in _NAME_AGREEMENT and family in _NAME_AGREEMENT):
        given_as_family = given_level(probe.given, stored.family, variants) in _NAME_AGREEMENT
        family_as_given = given_level(probe.family, stored.given, variants) in _NAME_AGREEMENT
        if given_as_family and family_as_given:
            given = family = "swapped"
        elif given_as_family and given not in _NAME_AGREEMENT:
            given = "crossed"
            if family not in _NAME_AGREEMENT:
                family = "new"
        elif family_as_given and family not in _NAME_AGREEMENT:
            family = "crossed"
            if given not in _NAME_AGREEMENT:
                given = "new"
    return {
        "given": given,
        "family": family,
        "dob": dob_level(probe.date_of_birth, stored.date_of_birth),
        "gender": gender_level(probe.gender, stored.gender),
        "postcode": postcode_level(probe.postcode, stored.postcode),
    }


def is_exact(levels: dict[str, str]) -> bool:
    return all(levels[field] in allowed for field, allowed in EXACT_LEVELS.items())
