"""A learning event as a loader stages it: its key, its content, or why it is rejected.

Every reader (``ilr.py``, ``results.py``) turns its file into a stream of ``Staged`` rows, one
per event the file holds, in file order. A row is either good (content set, ``reason`` None)
or rejected by a check that needs no database (an invalid ULN, a bad value); the checks that
do (unknown or withdrawn ULN, an event id given twice) are set-based, in ``settle.py``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from miap.server.register.identifiers import TEMPORARY_ULN, is_valid_uln

#: The sources a learning event can come from (``learning_events.source``).
SOURCES = ("ILR", "NPD", "AO")

#: The LearningEvent content columns, in the order staged rows carry them (the wire fields
#: in snake case, without the keys, ID, Source and DateLoaded, plus the ILR's ``outcome``).
FIELDS = (
    "achievement_award_date",
    "achievement_provider_name",
    "achievement_provider_ukprn",
    "awarding_organisation_name",
    "awarding_organisation_ukprn",
    "collection_type",
    "credits",
    "grade",
    "language_for_assessment",
    "level",
    "outcome",
    "participation_end_date",
    "participation_start_date",
    "qualification_type",
    "restriction",
    "return_number",
    "status",
    "subject",
    "subject_code",
    "under_data_challenge",
)
DATE_FIELDS = frozenset(
    ("achievement_award_date", "participation_end_date", "participation_start_date")
)
INTEGER_FIELDS = frozenset(("credits",))
#: Longest value of each text column (as ``storage/records.py`` declares them).
LENGTHS = {
    "achievement_provider_name": 255,
    "achievement_provider_ukprn": 8,
    "awarding_organisation_name": 255,
    "awarding_organisation_ukprn": 8,
    "collection_type": 8,
    "grade": 16,
    "language_for_assessment": 32,
    "level": 16,
    "outcome": 2,
    "qualification_type": 64,
    "restriction": 16,
    "return_number": 8,
    "status": 16,
    "subject": 255,
    "subject_code": 32,
    "under_data_challenge": 1,
}
MAX_EVENT_ID = 64

#: A staged row's columns: its place in the file, its key, a digest of its content, the
#: content (``FIELDS``) and the reason it is rejected (None when good).
STAGE_COLUMNS = ("pos", "place", "uln", "source_event_id", "digest", *FIELDS, "reason")

Value = str | int | dt.date | None


@dataclass(frozen=True, slots=True)
class Staged:
    """One event of a file. ``pos`` orders rows as the file does; ``place`` says where the
    event is in words (``line 7``; ``Learner 3 LearnRefNumber … AimSeqNumber 2 (line 81)``)."""

    pos: int
    place: str
    uln: str
    source_event_id: str
    values: tuple[Value, ...] | None
    reason: str | None = None

    def row(self) -> tuple:
        """The row as ``STAGE_COLUMNS`` lists them."""
        if self.values is None:
            return (
                self.pos,
                self.place,
                self.uln[:10],
                self.source_event_id[:MAX_EVENT_ID],
                None,
                *(None,) * len(FIELDS),
                self.reason,
            )
        return (
            self.pos,
            self.place,
            self.uln,
            self.source_event_id,
            digest(self.uln, self.values),
            *self.values,
            self.reason,
        )


@lru_cache(maxsize=1 << 12)
def uln_problem(uln: str) -> str | None:
    """Why ``uln`` can name no learner (None when it is a well-formed ULN). Cached: a
    learner's events usually follow one another."""
    if uln == TEMPORARY_ULN:
        return "temporary ULN 9999999999 identifies no learner"
    if not is_valid_uln(uln):
        return f"invalid ULN {uln!r}"[:255]
    return None


def digest(uln: str, values: tuple[Value, ...]) -> str:
    """A digest of what is stored for an event: a reload compares it, not every column."""
    text = "\x1f".join(["" if v is None else str(v) for v in values])
    return hashlib.md5(f"{uln}\x1f{text}".encode(), usedforsecurity=False).hexdigest()


def staged(pos: int, place: str, uln: str, event_id: str, values: dict[str, Value]) -> Staged:
    """A good event, or one rejected for its ULN or event id. Readers check their values
    (``LENGTHS`` included) before they get here."""
    problem = uln_problem(uln)
    if problem is None and not event_id:
        problem = "no event id"
    if problem is None and len(event_id) > MAX_EVENT_ID:
        problem = f"event id longer than {MAX_EVENT_ID} characters"
    if problem is not None:
        return Staged(pos, place, uln, event_id, None, problem)
    return Staged(pos, place, uln, event_id, tuple(map(values.get, FIELDS)))


def rejected(pos: int, place: str, uln: str, event_id: str, reason: str) -> Staged:
    return Staged(pos, place, uln, event_id, None, reason)


@dataclass(frozen=True, slots=True)
class StagedCsv:
    """Staged rows already written as ``COPY``'s CSV (``STAGE_COLUMNS``), with their counts
    (a chunk of a file, or a worker's part of one, see ``ilr_parts``)."""

    payload: str
    rows: int
    rejected: int


def as_csv(events: Iterable[Staged]) -> StagedCsv:
    """``events`` as ``COPY``'s CSV. An unquoted empty field is NULL; staged rows hold no
    empty strings."""
    out = io.StringIO()
    writer = csv.writer(out)
    rows = rejected = 0
    for event in events:
        writer.writerow(event.row())
        rows += 1
        rejected += event.reason is not None
    return StagedCsv(out.getvalue(), rows, rejected)
