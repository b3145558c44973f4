"""Synthetic school census extracts for tests and benchmarks. Nobody here is a real pupil.

Pupils come from ``synth.Population`` (the same names, postcodes and frequencies as the rest
of the synthetic register) with school-age birth dates; each belongs to a synthetic school
(a made-up LA number and establishment number) and has a UPN with a valid check letter built
from them.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from miap.server.admin.synth import Person, Population
from miap.server.census.pupils import HEADER
from miap.server.register.identifiers import upn_check_letter

#: Pupils per synthetic school.
SCHOOL_SIZE = 800
_GENDERS = {"1": "M", "2": "F"}


class Pupils(Population):
    """School-age people (4 to 16 on the reference date), boys and girls only (the census
    records M or F)."""

    def date_of_birth(self) -> dt.date:
        days = self.rng.randint(4 * 365 + 1, 16 * 365 + 4)
        return self.reference_date - dt.timedelta(days=days)

    def pupils(self, count: int) -> Iterator[Person]:
        made = 0
        for person in self.people(count * 2):
            if person.gender in _GENDERS:
                yield person
                made += 1
                if made == count:
                    return


@dataclass(frozen=True)
class School:
    la: str  # three digits
    establishment: str  # four digits

    @property
    def laestab(self) -> str:
        return self.la + self.establishment


def school(number: int) -> School:
    """The ``number``-th synthetic school (LA 201 to 900, establishments 2000 to 6999)."""
    return School(str(201 + (number // 5000) % 700), str(2000 + number % 5000))


def upn(number: int) -> str:
    """The UPN of the ``number``-th synthetic pupil: their school's LA and establishment, a
    two-digit year and a serial, and the check letter (all distinct up to 2.8 billion)."""
    where = school(number // SCHOOL_SIZE)
    within = number % SCHOOL_SIZE
    body = f"{where.la}{where.establishment}{10 + within // 100:02d}{within % 100:03d}"
    return upn_check_letter(body) + body


def rows(count: int, seed: int = 0, first: int = 0) -> Iterator[list[str]]:
    """``count`` census rows for pupils ``first``, ``first + 1``, … of ``Pupils(seed)``."""
    population = Pupils(seed)
    rng = population.rng
    for index, person in enumerate(population.pupils(count)):
        number = first + index
        middle = population.given_name(person.gender) if rng.random() < 0.3 else ""
        preferred = population.given_name(person.gender) if rng.random() < 0.02 else ""
        yield [
            upn(number),
            person.family_name,
            person.given_name,
            middle,
            "",
            preferred,
            person.date_of_birth.isoformat(),
            _GENDERS[person.gender],
            person.postcode,
            school(number // SCHOOL_SIZE).laestab,
            str(rng.randint(1, 11)),
        ]


def write(out: TextIO, count: int, seed: int = 0, first: int = 0) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    written = 0
    for row in rows(count, seed, first):
        writer.writerow(row)
        written += 1
    return written
