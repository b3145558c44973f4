"""The analysts' queries: aggregate counts over the register, its records and the census.

Each query is one set-based ``GROUP BY`` statement (no loop over learners or events in
Python); only its grouped result, a few hundred rows at most, is shaped here, and every table
goes through disclosure control (``disclosure.control``) before anybody sees it. No output
holds a name, ULN, date of birth or postcode: learners are counted by age band, sex and
region (from the postcode's area), pupils by local authority, events by qualification type,
level, academic year and provider UKPRN, registrations and merges by month.

``run(session, name)`` is the API for every route (the CLI, and the service routes' analyst
callers): it answers only with published tables.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from importlib.resources import files

from sqlalchemy import case, exists, extract, func, literal, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from miap.server.analysis.disclosure import Table, control
from miap.storage.models import CensusPupil, CensusRow, Learner, LearnerLink
from miap.storage.records import LearningEvent

#: Age bands (label, lowest age in it), youngest first; the last is open-ended.
AGE_BANDS = (("0-15", 0), ("16-18", 16), ("19-23", 19), ("24-49", 24), ("50+", 50))
#: LRS Gender codes as published.
SEXES = {"1": "Male", "2": "Female"}
NOT_KNOWN = "Not known"
UNKNOWN_REGION = "Unknown"
REGIONS_FILE = "postcode_area_regions.csv"


@dataclass(frozen=True)
class Result:
    """A published table and the columns derived from its published counts (rates)."""

    table: Table
    #: (column name, one text per table row), e.g. a rate; "c" where a count it needs is.
    derived: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: How the chart draws it: ``stacked`` bars per column, or ``lines`` over the rows.
    chart: str = "stacked"


@functools.cache
def area_regions() -> dict[str, str]:
    """Postcode area (``LS``, ``M``) -> region."""
    text = files("miap.server").joinpath("data", REGIONS_FILE).read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {row["area"]: row["region"] for row in rows}


def regions() -> list[str]:
    """Every region, alphabetically, then Unknown."""
    return [*sorted(set(area_regions().values())), UNKNOWN_REGION]


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _postcode_area(postcode_key: ColumnElement) -> ColumnElement:
    """The leading letters of a postcode key (``LS1 4AP`` -> ``LS``, ``M11AE`` -> ``M``)."""
    second = func.substr(postcode_key, 2, 1)
    return case(
        (second.between("A", "Z"), func.substr(postcode_key, 1, 2)),
        else_=func.substr(postcode_key, 1, 1),
    )


def _rate(table: Table, numerator: int, denominator: int | None, per: int) -> tuple[str, ...]:
    """numerator column / denominator column (or the row total when None) × ``per``, from the
    published counts: ``c`` when either is suppressed, empty when the denominator is 0."""
    texts = []
    for r, row in enumerate(table.cells):
        top = row[numerator]
        bottom = row[denominator] if denominator is not None else (table.row_totals or ())[r]
        if top is None or bottom is None:
            texts.append("c")
        elif bottom == 0:
            texts.append("")
        else:
            texts.append(f"{top * per / bottom:.1f}")
    return tuple(texts)


# -- the queries ------------------------------------------------------------------------------


def learners_by_age_sex_region(session: Session, as_of: dt.date) -> Result:
    """Learners on the register (not merged away, not withdrawn) by age band on ``as_of``,
    sex and region."""
    band = case(
        *(
            (Learner.date_of_birth > _years_before(as_of, lowest_next), label)
            for (label, _), (_, lowest_next) in zip(AGE_BANDS[:-1], AGE_BANDS[1:], strict=True)
        ),
        else_=AGE_BANDS[-1][0],
    )
    sex = case(*((Learner.gender == code, name) for code, name in SEXES.items()), else_=NOT_KNOWN)
    area = _postcode_area(Learner.postcode_key)
    statement = (
        select(band, sex, area, func.count())
        .where(Learner.merged_into_id.is_(None), Learner.deleted_at.is_(None))
        .group_by(band, sex, area)
    )
    mapping = area_regions()
    counts: dict[tuple[tuple[Hashable, ...], Hashable], int] = defaultdict(int)
    for band_label, sex_label, area_code, count in session.execute(statement):
        region = mapping.get(area_code, UNKNOWN_REGION)
        counts[((band_label, sex_label), region)] += count
    rows = [(label, sex) for label, _ in AGE_BANDS for sex in (*SEXES.values(), NOT_KNOWN)]
    table = control(
        f"Learners by age band, sex and region on {as_of.isoformat()}",
        counts,
        ("age band", "sex"),
        "region",
        rows,
        regions(),
    )
    return Result(table)


def achievements_by_qualification(session: Session, as_of: dt.date) -> Result:
    """Achievements (learning events with an award date, not withdrawn) by qualification type,
    level, academic year (1 August to 31 July) of the award and achieving provider."""
    award = LearningEvent.achievement_award_date
    start_year = extract("year", award) - case((extract("month", award) < 8, 1), else_=0)
    provider = func.coalesce(LearningEvent.achievement_provider_ukprn, LearningEvent.provider_ukprn)
    qualification = func.coalesce(LearningEvent.qualification_type, literal(NOT_KNOWN))
    level = func.coalesce(LearningEvent.level, literal(NOT_KNOWN))
    statement = (
        select(provider, qualification, level, start_year, func.count())
        .where(LearningEvent.withdrawn_at.is_(None), award.is_not(None), award <= as_of)
        .group_by(provider, qualification, level, start_year)
    )
    counts: dict[tuple[tuple[Hashable, ...], Hashable], int] = {}
    for ukprn, qualification_type, level_name, year, count in session.execute(statement):
        year = int(year)
        counts[((ukprn, qualification_type, str(level_name)), f"{year}/{(year + 1) % 100:02d}")] = (
            count
        )
    rows = sorted({row for row, _ in counts})
    columns = sorted({column for _, column in counts})
    table = control(
        "Achievements by provider, qualification type, level and academic year",
        counts,
        ("provider UKPRN", "qualification type", "level"),
        "academic year",
        rows,
        columns,
    )
    return Result(table)


def uln_coverage_by_local_authority(session: Session, as_of: dt.date) -> Result:
    """School pupils (UPNs in the census) with and without a live ULN, by local authority (the
    first three digits of the school's LAESTAB)."""
    with_uln = select(
        func.substr(CensusPupil.laestab, 1, 3).label("la"),
        case((Learner.deleted_at.is_(None), "With ULN"), else_="Without ULN").label("status"),
    ).join(Learner, Learner.id == CensusPupil.learner_id)
    # Pupils returned by a census who were never linked to a learner (possible matches left
    # for review, rejected rows): one per UPN, at the school of their latest row.
    unlinked = (
        select(
            func.substr(func.max(CensusRow.laestab), 1, 3).label("la"),
            literal("Without ULN").label("status"),
        )
        .where(
            CensusRow.upn.is_not(None),
            ~exists().where(CensusPupil.upn == CensusRow.upn),
        )
        .group_by(CensusRow.upn)
    )
    pupils = union_all(with_uln, unlinked).subquery()
    statement = select(pupils.c.la, pupils.c.status, func.count()).group_by(
        pupils.c.la, pupils.c.status
    )
    counts = {
        ((la or NOT_KNOWN,), status): count for la, status, count in session.execute(statement)
    }
    columns = ["With ULN", "Without ULN"]
    rows = sorted({row for row, _ in counts})
    table = control(
        f"ULN coverage of school pupils by local authority ({as_of.isoformat()})",
        counts,
        ("local authority",),
        "pupils",
        rows,
        columns,
    )
    return Result(table, (("coverage %", _rate(table, 0, None, 100)),))


def duplicates_and_merges_by_month(session: Session, as_of: dt.date) -> Result:
    """By month: learners registered, how many of those are now merged into another record
    (found to be duplicates), and merges and unmerges made."""
    created_year, created_month = (
        extract("year", Learner.created_at),
        extract("month", Learner.created_at),
    )
    link_year, link_month = extract("year", LearnerLink.at), extract("month", LearnerLink.at)
    registered = (
        select(
            created_year,
            created_month,
            func.count(),
            func.count(Learner.merged_into_id),
        )
        .where(Learner.created_at < as_of + dt.timedelta(days=1))
        .group_by(created_year, created_month)
    )
    links = (
        select(
            link_year,
            link_month,
            func.sum(case((LearnerLink.action == "merge", 1), else_=0)),
            func.sum(case((LearnerLink.action == "unmerge", 1), else_=0)),
        )
        .where(LearnerLink.at < as_of + dt.timedelta(days=1))
        .group_by(link_year, link_month)
    )
    columns = ["Registered", "Registered, now merged", "Merges", "Unmerges"]
    counts: dict[tuple[tuple[Hashable, ...], Hashable], int] = {}
    for year, month, total, merged in session.execute(registered):
        month_label = f"{int(year):04d}-{int(month):02d}"
        counts[((month_label,), columns[0])] = total
        counts[((month_label,), columns[1])] = merged
    for year, month, merges, unmerges in session.execute(links):
        month_label = f"{int(year):04d}-{int(month):02d}"
        counts[((month_label,), columns[2])] = int(merges or 0)
        counts[((month_label,), columns[3])] = int(unmerges or 0)
    rows = sorted({row for row, _ in counts})
    table = control(
        "Registrations, duplicates found and merges by month",
        counts,
        ("month",),
        "measure",
        rows,
        columns,
        row_totals=False,  # the columns are different measures: a row does not add up
    )
    derived = (
        ("duplicate rate %", _rate(table, 1, 0, 100)),
        ("merges per 1000 registrations", _rate(table, 2, 0, 1000)),
    )
    return Result(table, derived, chart="lines")


@dataclass(frozen=True)
class Query:
    run: Callable[[Session, dt.date], Result]
    description: str


QUERIES: dict[str, Query] = {
    "learners": Query(learners_by_age_sex_region, "learners by age band x sex x region"),
    "achievements": Query(
        achievements_by_qualification,
        "achievements by qualification type x level x academic year x provider",
    ),
    "coverage": Query(
        uln_coverage_by_local_authority, "ULN coverage of school pupils by local authority"
    ),
    "duplicates": Query(duplicates_and_merges_by_month, "duplicate and merge rates by month"),
}


class UnknownQuery(KeyError):
    pass


def run(session: Session, name: str, as_of: dt.date | None = None) -> Result:
    """The published (disclosure-controlled) result of query ``name``."""
    query = QUERIES.get(name)
    if query is None:
        raise UnknownQuery(f"no query named {name!r}; one of {', '.join(QUERIES)}")
    return query.run(session, as_of or dt.date.today())
