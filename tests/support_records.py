"""Helpers of the learner-records tests: learners of their own, files, loads, outcomes.

The tests share one database per backend with the rest of the suite, so each test works in
a scope of its own (a fresh data-owner UKPRN) and registers learners of its own (synthetic
people given a family name nobody else has).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import re
import subprocess
import uuid
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select

from miap.server.admin import synth
from miap.server.records import synthetic
from miap.server.records.ilr import YEARS
from miap.server.records.reading import Event, events_of
from miap.storage.engine import Database
from miap.storage.records import LearningEvent
from tests.support import run_miap

COUNTS = ("loaded", "updated", "unchanged", "withdrawn", "rejected")
PREPARED = dt.datetime(2020, 3, 1, 12, 0, 0)


def fresh_ukprn() -> str:
    """A data owner no other test uses (eight digits from 20000000)."""
    return str(20_000_000 + uuid.uuid4().int % 70_000_000)


def _letters(count: int) -> str:
    value = uuid.uuid4().int
    return "".join(chr(ord("a") + (value >> (5 * i)) % 26) for i in range(count))


def register(url: str, count: int) -> list[str]:
    """``count`` new learners of this test's own; their ULNs."""
    family = "Rec" + _letters(12)
    people = [
        dataclasses.replace(person, family_name=family)
        for person in synth.Population(uuid.uuid4().int % 1_000_000).people(count)
    ]
    db = Database(url)
    try:
        return synth.load(db, people, "10000002")
    finally:
        db.dispose()


def ilr_file(
    folder: Path,
    people: Iterable[synthetic.IlrLearner],
    ukprn: str,
    serial: int = 1,
    prepared: dt.datetime = PREPARED,
    namespace: str = "ESFA/ILR/2019-20",
) -> Path:
    year = YEARS[namespace]
    path = folder / synthetic.file_name(ukprn, year.code, prepared, serial)
    with path.open("wb") as out:
        synthetic.write_ilr(
            out, people, ukprn=ukprn, serial=serial, prepared=prepared, namespace=namespace
        )
    return path


def load(url: str, path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run_miap("records", "load", str(path), "--db", url, "--no-progress", *args, check=check)


def counts(result: subprocess.CompletedProcess) -> dict[str, int]:
    """The summary's counts (``loaded``, ``updated``, …) and ``events``."""
    found = {
        name: int(number.replace(",", ""))
        for number, name in re.findall(
            r"([0-9][0-9,]*) (events|" + "|".join(COUNTS) + ")", result.stdout
        )
    }
    assert set(found) == {"events", *COUNTS}, result.stdout
    return found


def rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def stored(url: str, ukprn: str) -> list[tuple]:
    """Every stored event of a data owner, withdrawn ones too, as comparable tuples."""
    db = Database(url)
    try:
        with db.reading() as session:
            rows = session.execute(
                select(
                    LearningEvent.source_event_id,
                    LearningEvent.uln,
                    LearningEvent.grade,
                    LearningEvent.digest,
                    LearningEvent.return_key,
                    LearningEvent.loaded_at,
                    LearningEvent.withdrawn_at,
                )
                .where(LearningEvent.provider_ukprn == ukprn)
                .order_by(LearningEvent.source_event_id)
            )
            return [tuple(row) for row in rows]
    finally:
        db.dispose()


def events(url: str, uln: str) -> list[Event]:
    db = Database(url)
    try:
        with db.reading() as session:
            return events_of(session, uln)
    finally:
        db.dispose()
