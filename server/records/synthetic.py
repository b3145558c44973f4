"""Synthetic ILR returns and results CSVs for tests and benchmarks. Nobody here is real.

Learners are given by ULN (ones a test or benchmark registered); everything else (learner
reference numbers, aims, dates, grades) is drawn from a seeded generator, so the same
arguments write the same file. ILR files carry, besides what miap reads, a realistic share of
the elements it ignores (ethnicity, postcodes, FAM records…; no names, no birth dates), and
the elements of their own collection year.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO, TextIO

from miap.server.records.ilr import YEARS

_AIMS = ("60012345", "50098765", "6012345X", "ZPROG001", "60187654", "50023456", "60311111")
_GRADES = ("PA", "ME", "DI", "A", "B", "C", "4", "5", "6")
_AO_GRADES = ("A*", "A", "B", "C", "D", "E", "U", "9", "8", "7", "6", "5", "4")
_SUBJECTS = ("Mathematics", "English Language", "Biology", "History", "Art and Design")


@dataclass(frozen=True)
class Aim:
    """One LearningDelivery: what an ILR event is made from."""

    seq: int
    aim_ref: str
    start: dt.date
    comp_status: int
    end: dt.date | None = None
    outcome: int | None = None
    achieved: dt.date | None = None
    grade: str | None = None


@dataclass(frozen=True)
class IlrLearner:
    ref: str
    uln: str
    aims: tuple[Aim, ...]


def file_name(
    ukprn: str, year_code: str, prepared: dt.datetime, serial: int, ext: str = "XML"
) -> str:
    return f"ILR-{ukprn}-{year_code}-{prepared:%Y%m%d-%H%M%S}-{serial:02d}.{ext}"


def _aim(rng: random.Random, seq: int, year_start: dt.date) -> Aim:
    start = year_start + dt.timedelta(days=rng.randrange(0, 120))
    status = rng.choice((1, 2, 2, 2, 3))
    if status == 1:
        return Aim(seq, rng.choice(_AIMS), start, 1)
    end = start + dt.timedelta(days=rng.randrange(60, 300))
    if status == 3:
        return Aim(seq, rng.choice(_AIMS), start, 3, end, 3)
    achieved = end + dt.timedelta(days=rng.randrange(0, 30))
    return Aim(seq, rng.choice(_AIMS), start, 2, end, 1, achieved, rng.choice(_GRADES))


def learners(
    ulns: Iterable[str], year_code: str = "1920", per_learner: int = 2, seed: int = 0
) -> Iterator[IlrLearner]:
    """One learner per ULN, each with ``per_learner`` aims (learner refs ``L…`` in order)."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    year_start = dt.date(2000 + int(year_code[:2]), 8, 1)
    for number, uln in enumerate(ulns, start=1):
        aims = tuple(_aim(rng, seq, year_start) for seq in range(1, per_learner + 1))
        yield IlrLearner(f"L{number:011d}", uln, aims)


def corrected(aim: Aim, grade: str) -> Aim:
    """The same aim with another grade (a corrected result)."""
    return replace(aim, grade=grade)


def _element(name: str, value: object | None) -> str:
    return "" if value is None else f"<{name}>{value}</{name}>"


def _learner_xml(learner: IlrLearner, year: str) -> str:
    parts = [
        "<Learner>",
        _element("LearnRefNumber", learner.ref),
        _element("CampId", "CAMP0001" if year != "2017-18" else None),
        _element("ULN", learner.uln),
        "<Ethnicity>31</Ethnicity><Sex>F</Sex><LLDDHealthProb>2</LLDDHealthProb>",
        "<PostcodePrior>ZZ99 9ZZ</PostcodePrior><Postcode>ZZ99 9ZZ</Postcode>",
        _element("OTJHours", "0" if year == "2018-19" else None),
        "<LearnerFAM><LearnFAMType>LSR</LearnFAMType><LearnFAMCode>36</LearnFAMCode></LearnerFAM>",
        "<LearnerEmploymentStatus><EmpStat>10</EmpStat><DateEmpStatApp>2019-07-01"
        "</DateEmpStatApp></LearnerEmploymentStatus>",
    ]
    for aim in learner.aims:
        parts += [
            "<LearningDelivery>",
            _element("LearnAimRef", aim.aim_ref),
            "<AimType>4</AimType>",
            _element("AimSeqNumber", aim.seq),
            _element("LearnStartDate", aim.start.isoformat()),
            _element("LearnPlanEndDate", (aim.start + dt.timedelta(days=300)).isoformat()),
            "<FundModel>25</FundModel>",
            _element("PHours", "450" if year in ("2019-20", "2020-21") else None),
            _element("OTJActHours", "0" if year == "2020-21" else None),
            "<DelLocPostCode>ZZ99 9ZZ</DelLocPostCode>",
            _element("CompStatus", aim.comp_status),
            _element("LearnActEndDate", aim.end and aim.end.isoformat()),
            _element("Outcome", aim.outcome),
            _element("AchDate", aim.achieved and aim.achieved.isoformat()),
            _element("OutGrade", aim.grade),
            "<LearningDeliveryFAM><LearnDelFAMType>SOF</LearnDelFAMType>"
            "<LearnDelFAMCode>107</LearnDelFAMCode></LearningDeliveryFAM>",
            "</LearningDelivery>",
        ]
    parts.append("</Learner>\n")
    return "".join(parts)


def write_ilr(
    out: BinaryIO,
    people: Iterable[IlrLearner],
    *,
    ukprn: str,
    serial: int,
    prepared: dt.datetime,
    namespace: str = "ESFA/ILR/2019-20",
) -> int:
    """Write an ILR return of ``namespace``'s year; returns the number of aims written."""
    year = YEARS[namespace]
    out.write(
        (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<Message xmlns="{namespace}">\n'
            "<Header><CollectionDetails><Collection>ILR</Collection>"
            f"<Year>{year.code}</Year><FilePreparationDate>{prepared:%Y-%m-%d}"
            "</FilePreparationDate></CollectionDetails><Source>"
            "<ProtectiveMarking>OFFICIAL-SENSITIVE-Personal</ProtectiveMarking>"
            f"<UKPRN>{ukprn}</UKPRN><SoftwareSupplier>miap synthetic</SoftwareSupplier>"
            f"<SerialNo>{serial:02d}</SerialNo><DateTime>{prepared:%Y-%m-%dT%H:%M:%S}</DateTime>"
            "</Source></Header>\n"
            f"<LearningProvider><UKPRN>{ukprn}</UKPRN></LearningProvider>\n"
        ).encode()
    )
    aims = 0
    buffer: list[str] = []
    for learner in people:
        buffer.append(_learner_xml(learner, year.name))
        aims += len(learner.aims)
        if len(buffer) >= 1000:
            out.write("".join(buffer).encode())
            buffer = []
    out.write("".join(buffer).encode())
    out.write(b"</Message>\n")
    return aims


#: Columns of the synthetic results files (a subset of what a results CSV may carry).
RESULT_COLUMNS = (
    "ULN",
    "SourceEventId",
    "AwardingOrganisationUkprn",
    "AwardingOrganisationName",
    "QualificationType",
    "Subject",
    "SubjectCode",
    "Level",
    "Grade",
    "AchievementAwardDate",
    "Credits",
    "UnderDataChallenge",
)


def result_rows(
    ulns: Iterable[str], ao_ukprn: str, per_learner: int = 2, seed: int = 0
) -> Iterator[dict[str, str]]:
    """``per_learner`` results per ULN, event ids ``R…`` in order."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    number = 0
    for uln in ulns:
        for _ in range(per_learner):
            number += 1
            subject = rng.choice(_SUBJECTS)
            yield {
                "ULN": uln,
                "SourceEventId": f"R{number:09d}",
                "AwardingOrganisationUkprn": ao_ukprn,
                "AwardingOrganisationName": "Synthetic Awarding Body",
                "QualificationType": rng.choice(("GCSE", "A Level")),
                "Subject": subject,
                "SubjectCode": f"{_SUBJECTS.index(subject) + 1:04d}",
                "Level": rng.choice(("2", "3")),
                "Grade": rng.choice(_AO_GRADES),
                "AchievementAwardDate": f"2025-08-{rng.randrange(10, 28)}",
                "Credits": str(rng.randrange(0, 20)),
                "UnderDataChallenge": "N",
            }


def write_results(
    out: TextIO, rows: Iterable[dict[str, str]], columns: tuple[str, ...] = RESULT_COLUMNS
) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    written = 0
    for row in rows:
        writer.writerow([row.get(column, "") for column in columns])
        written += 1
    return written
