"""The engine's field weights as SQL upper bounds, for screening many searches set-based.

A bulk load (the census) searches a million rows at once. Most have candidates, and nearly
all of those candidates are far below the threshold: learners who share the name pair, or a
Soundex code, but not the birth date or the district. ``ScoreBounds`` writes, for a searched
row and a candidate joined to it in SQL, an expression that is *at least* the weight the
engine's comparison (``comparison.py``) gives a field, never less. The birth date and
gender are the engine's own levels; the postcode is coarser where a level is costly in SQL
(a sector and a district weigh the same here, the most either can).
``tests/test_matching_bounds.py`` holds each bound to the engine's level over a sample of
pairs. Dates are compared as YYYYMMDD integers (``yyyymmdd``), computed once per row rather
than once per comparison: the birth date's level names each date many times.
"""

from __future__ import annotations

from miap.server.matching.engine import PAIR_BOUNDS, PAIR_LEVELS, MatchWeights
from miap.server.matching.normalise import UNKNOWN_POSTCODE

#: The genders that compare as "not known" (``comparison.gender_level``).
_UNKNOWN_GENDERS = "('0', '9')"
#: Levels of a birth date at most two digits from another, past exact and day/month swapped.
_NEAR_DOB = ("transposed", "one_digit", "year_month", "month_day", "year", "different")


def yyyymmdd(date: str) -> str:
    """``date`` as the integer YYYYMMDD (its digits compared by arithmetic, not as text)."""
    return (
        f"(date_part('year', {date})::int * 10000 + date_part('month', {date})::int * 100 "
        f"+ date_part('day', {date})::int)"
    )


def _digit(date: str, place: int) -> str:
    """The digit ``place`` places from the right of the YYYYMMDD integer ``date``."""
    return f"({date} / {10**place} % 10)"


def wrong_digits(searched: str, stored: str) -> str:
    """How many of the eight digits of two YYYYMMDD integers differ."""
    terms = (f"({_digit(searched, place)} <> {_digit(stored, place)})::int" for place in range(8))
    return "(" + " + ".join(terms) + ")"


def area(postcode_key: str) -> str:
    """The letters among a postcode key's first two characters: two keys of one postcode
    area (``comparison._area``) always have the same (others may too)."""
    return f"rtrim(left({postcode_key}, 2), '0123456789')"


def unknown_postcode(postcode_key: str) -> str:
    """The postcode is missing or the 'not known' one (``normalise.known_postcode``)."""
    return f"({postcode_key} IS NULL OR {postcode_key} = '{UNKNOWN_POSTCODE}')"


class ScoreBounds:
    """SQL expressions bounding each field's weight from above, for ``weights``."""

    def __init__(self, weights: MatchWeights) -> None:
        self.weights = weights.weights
        self.threshold = weights.threshold

    def most(self, field: str, *levels: str) -> float:
        """The largest weight of ``levels`` of ``field`` (all of them if none is named)."""
        return max(self.weights[field][level] for level in levels or self.weights[field])

    def _literal(self, field: str, *levels: str) -> str:
        return f"{self.most(field, *levels)!r}::float8"

    def dob(self, searched: str, stored: str) -> str:
        """The birth date's weight (``comparison.dob_level``), exactly, from both dates as
        YYYYMMDD integers (each named once per pair: pass columns, not expressions)."""
        a, b = searched, stored
        same_year = f"{a} / 10000 = {b} / 10000"
        swapped = f"{same_year} AND {a} / 100 % 100 = {b} % 100 AND {a} % 100 = {b} / 100 % 100"
        # two adjacent digits wrong, the left one of ``a`` being the right one of ``b``
        transposed = " OR ".join(
            f"({_digit(a, place + 1)} = {_digit(b, place)} "
            f"AND {_digit(a, place + 1)} <> {_digit(b, place + 1)} "
            f"AND {_digit(a, place)} <> {_digit(b, place)})"
            for place in range(7)
        )
        partial = (
            f"CASE WHEN {a} / 100 = {b} / 100 THEN {self._literal('dob', 'year_month')} "
            f"WHEN {a} % 10000 = {b} % 10000 THEN {self._literal('dob', 'month_day')} "
            f"WHEN {same_year} THEN {self._literal('dob', 'year')} "
            f"ELSE {self._literal('dob', 'different')} END"
        )
        return (
            f"CASE WHEN {a} = {b} THEN {self._literal('dob', 'exact')} "
            f"WHEN {swapped} THEN {self._literal('dob', 'swapped_dm')} "
            f"ELSE CASE {wrong_digits(a, b)} WHEN 1 THEN {self._literal('dob', 'one_digit')} "
            f"WHEN 2 THEN CASE WHEN {transposed} THEN {self._literal('dob', 'transposed')} "
            f"ELSE {partial} END ELSE {partial} END END"
        )

    def postcode(self, searched: str, stored: str) -> str:
        """At least the postcode's weight (``comparison.postcode_level``), from both keys."""
        return (
            f"CASE WHEN {unknown_postcode(searched)} OR {unknown_postcode(stored)} "
            f"THEN {self._literal('postcode', 'missing')} "
            f"WHEN {searched} = {stored} THEN {self._literal('postcode', 'exact')} "
            f"WHEN left({searched}, -3) = left({stored}, -3) "
            f"THEN {self._literal('postcode', 'sector', 'district')} "
            f"WHEN {area(searched)} = {area(stored)} "
            f"THEN {self._literal('postcode', 'area', 'different')} "
            f"ELSE {self._literal('postcode', 'different')} END"
        )

    def gender(self, searched: str, stored: str) -> str:
        """The gender's weight (``comparison.gender_level``), exactly."""
        return (
            f"CASE WHEN {searched} IN {_UNKNOWN_GENDERS} OR {stored} IN {_UNKNOWN_GENDERS} "
            f"THEN {self._literal('gender', 'unknown')} "
            f"WHEN {searched} = {stored} THEN {self._literal('gender', 'match')} "
            f"ELSE {self._literal('gender', 'mismatch')} END"
        )

    def pair(self, live: str, read: str) -> str:
        """The weight of the searched name pair for a learner holding it exactly
        (``engine.pair_level``), from the number of ``live`` holders in the register and of
        all of them (merged and withdrawn too: ``read``). The engine counts the live holders
        it reads: at least ``PAIR_LIMIT`` of them, or all, so its level is the live count's;
        when dead holders could have taken places in its reading, the largest weight."""
        levels = " ".join(
            f"WHEN {live} >= {fewest} THEN {self._literal('pair', level)}"
            for level, fewest in PAIR_BOUNDS
        )
        most = self._literal("pair", *PAIR_LEVELS)
        return f"CASE WHEN {read} > {live} THEN {most} {levels} ELSE {most} END"

    @property
    def exact_names(self) -> float:
        """Both names exactly as searched."""
        return self.weights["given"]["exact"] + self.weights["family"]["exact"]

    @property
    def names_apart(self) -> float:
        """The most the names of a learner not holding the searched pair can weigh (its
        pair level is ``other``)."""
        return self.most("given") + self.most("family") + self.weights["pair"]["other"]

    def common_holders_apart(self) -> bool:
        """Whether a holder of a common name pair (``PAIR_LIMIT`` holders or more) whose
        known postcode is outside the searched one's area, born neither the same day nor
        with day and month swapped, falls short of the threshold whatever else: then only
        holders in the area, born that day or swapped, or with a postcode unknown on either
        side need scoring, and those are found by equality joins."""
        best = (
            self.exact_names
            + self.weights["pair"]["common"]
            + self.most("dob", *_NEAR_DOB)
            + self.most("postcode", "different")
            + self.most("gender")
        )
        return best < self.threshold
