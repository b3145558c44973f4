"""Reading a results CSV: school attainment (NPD) or an awarding organisation's results (AO).

UTF-8 (a BOM is allowed), comma-separated, a header row naming the columns: ``ULN`` and
``SourceEventId`` (the sender's own id for the event, unique in its collection) are required;
any of the LearningEvent field names (``ResultsFile.COLUMNS``) may follow, in any order; a
column we do not know refuses the file (a typo would otherwise drop data silently). Empty
cells are absent values. A row with a bad value is rejected on its own, with its line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from pathlib import Path

from miap.server.records.errors import RecordsError
from miap.server.records.events import (
    DATE_FIELDS,
    FIELDS,
    INTEGER_FIELDS,
    LENGTHS,
    Staged,
    rejected,
    staged,
)
from miap.server.records.streams import Counted, sha256_of
from miap.server.register.identifiers import is_valid_ukprn

#: ILR-only fields a results file does not carry.
_ILR_ONLY = frozenset(("outcome",))
#: Most credits one event may carry.
MAX_CREDITS = 9999


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


#: Column name -> event field, for the LearningEvent fields a results file may carry.
COLUMNS = {_pascal(name): name for name in FIELDS if name not in _ILR_ONLY}
KEY_COLUMNS = ("ULN", "SourceEventId")


def _date(text: str) -> str:
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError("not a YYYY-MM-DD date") from None


def _credits(text: str) -> int:
    if not text.isdigit() or int(text) > MAX_CREDITS:
        raise ValueError(f"not a whole number from 0 to {MAX_CREDITS}")
    return int(text)


def _ukprn(text: str) -> str:
    if not is_valid_ukprn(text):
        raise ValueError("not a UKPRN (eight digits from 10000000)")
    return text


def _flag(text: str) -> str:
    if text not in ("Y", "N"):
        raise ValueError("not one of Y, N")
    return text


#: Fields whose cells are checked and converted (a ``ValueError`` says why one is bad); the
#: rest are text of at most ``LENGTHS`` characters.
_CONVERT: dict[str, Callable[[str], object]] = {
    **dict.fromkeys(DATE_FIELDS, _date),
    **dict.fromkeys(INTEGER_FIELDS, _credits),
    "achievement_provider_ukprn": _ukprn,
    "awarding_organisation_ukprn": _ukprn,
    "under_data_challenge": _flag,
}


class ResultsFile:
    """One results CSV; ``events()`` streams its rows as events (one per data line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.content_hash = ""
        self.skipped = 0

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def digest(self) -> str:
        """The SHA-256 of the file as ``events`` reads it."""
        with self.path.open("rb") as raw:
            return sha256_of(raw)

    def events(self, advance: Callable[[int], object] = lambda n: None) -> Iterator[Staged]:
        """The file's rows as events in file order (``advance`` is told each block read)."""
        name = self.path.name
        with self.path.open("rb") as raw:
            counted = Counted(raw, advance)
            text = io.TextIOWrapper(io.BufferedReader(counted), encoding="utf-8-sig", newline="")
            reader = csv.reader(text, strict=True)
            try:
                yield from self._rows(reader)
            except UnicodeDecodeError:
                raise RecordsError(
                    f"{name} near line {reader.line_num + 1}: not UTF-8 text"
                ) from None
            except csv.Error as error:
                raise RecordsError(f"{name} line {reader.line_num}: {error}") from None
            self.content_hash = counted.drain()

    def _header(self, reader: Iterator[list[str]]) -> list[str]:
        header = next(reader, None)
        if header is None:
            raise RecordsError(f"{self.path.name}: empty file (a header row is required)")
        names = [cell.strip() for cell in header]
        unknown = [cell for cell in names if cell not in COLUMNS and cell not in KEY_COLUMNS]
        if unknown:
            raise RecordsError(
                f"{self.path.name} line 1: unknown column {unknown[0]!r} "
                f"(columns: {', '.join((*KEY_COLUMNS, *COLUMNS))})"
            )
        repeated = sorted({cell for cell in names if names.count(cell) > 1})
        if repeated:
            raise RecordsError(f"{self.path.name} line 1: column {repeated[0]!r} given twice")
        missing = [key for key in KEY_COLUMNS if key not in names]
        if missing:
            raise RecordsError(f"{self.path.name} line 1: no {missing[0]} column")
        return names

    def _rows(self, reader: csv.reader) -> Iterator[Staged]:
        names = self._header(reader)
        width = len(names)
        uln_at, id_at = names.index("ULN"), names.index("SourceEventId")
        fields = [
            (at, COLUMNS[cell], LENGTHS.get(COLUMNS[cell]), _CONVERT.get(COLUMNS[cell]))
            for at, cell in enumerate(names)
            if cell in COLUMNS
        ]
        pos = 0
        for row in reader:
            line = reader.line_num
            pos += 1
            place = f"line {line}"
            if len(row) != width:
                if not any(cell.strip() for cell in row):
                    pos -= 1
                    continue  # a blank line holds no event
                uln = row[uln_at].strip() if len(row) > uln_at else ""
                event_id = row[id_at].strip() if len(row) > id_at else ""
                reason = f"{len(row)} fields, the header has {width}"
                yield rejected(pos, place, uln, event_id, reason)
                continue
            uln, event_id = row[uln_at].strip(), row[id_at].strip()
            values: dict[str, object] = {}
            problem = None
            for at, field, limit, convert in fields:
                cell = row[at].strip()
                if not cell:
                    continue
                if convert is None:
                    if len(cell) > limit:
                        problem = f"{names[at]}: longer than {limit} characters"
                        break
                    values[field] = cell
                    continue
                try:
                    values[field] = convert(cell)
                except ValueError as error:
                    problem = f"{names[at]}: {error}"
                    break
            if problem is not None:
                yield rejected(pos, place, uln, event_id, problem)
            else:
                yield staged(pos, place, uln, event_id, values)
