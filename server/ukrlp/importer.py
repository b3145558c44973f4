"""``miap providers import``: the provider register from a CSV file, one row per provider.

The file's columns (header row required; names are matched exactly, order is free, unknown
columns are refused so that a misspelt one is never silently ignored):

* ``UKPRN`` (8 digits starting with 1), ``LegalName`` (required), ``TradingName``,
  ``Status`` (``A``, ``V``, ``PD1``, ``PD2``; empty means ``A``),
* ``Aliases``: names separated by ``|``,
* ``VerifiedOn``, ``ExpiryDate``: ``YYYY-MM-DD``,
* ``Verifications``: ``Authority=ID`` pairs separated by ``|``; the first is the primary source,
* ``Associations``: ``UKPRN=Type`` pairs separated by ``|``,
* for each contact, ``Legal`` (legal address) and ``Primary`` (primary contact), the prefix
  followed by ``Address1`` … ``Address4``, ``Town``, ``County``, ``Postcode``, ``Title``,
  ``GivenName``, ``FamilyName``, ``Role``, ``Telephone``, ``Email``, ``Website``. A contact
  whose columns are all empty is absent.

Only ``UKPRN`` and ``LegalName`` must be present as columns. A row that breaks a rule is not
written: it goes to the rejects file with its line number and the reason, and the other rows
are imported. Every row is written as the provider's whole entry (see ``register.upsert``),
so importing the same file again changes nothing and writes no history.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from miap.server.register.auth import PROVIDER_STATUSES
from miap.server.register.identifiers import is_valid_ukprn
from miap.server.ukrlp.keys import full_postcode, name_key
from miap.server.ukrlp.register import (
    CONTACT_FIELDS,
    Alias,
    Association,
    Contact,
    ProviderDetails,
    Verification,
    upsert_many,
)
from miap.storage.engine import Database

#: Rows written per transaction.
CHUNK = 500
CONTACT_PREFIXES = {"Legal": "L", "Primary": "P"}
#: CSV column suffix -> Contact field.
CONTACT_COLUMNS = {
    "Address1": "address1",
    "Address2": "address2",
    "Address3": "address3",
    "Address4": "address4",
    "Town": "town",
    "County": "county",
    "Postcode": "postcode",
    "Title": "person_title",
    "GivenName": "person_given_name",
    "FamilyName": "person_family_name",
    "Role": "role",
    "Telephone": "telephone",
    "Email": "email",
    "Website": "website",
}
assert set(CONTACT_COLUMNS.values()) == set(CONTACT_FIELDS)
#: Longest value of each contact field (the columns' lengths).
_CONTACT_LENGTHS = {
    "person_title": 35,
    "telephone": 30,
    "email": 254,
    "website": 254,
    "postcode": 9,
}
COLUMNS = (
    "UKPRN",
    "LegalName",
    "TradingName",
    "Status",
    "Aliases",
    "VerifiedOn",
    "ExpiryDate",
    "Verifications",
    "Associations",
    *(prefix + suffix for prefix in CONTACT_PREFIXES for suffix in CONTACT_COLUMNS),
)
REQUIRED = ("UKPRN", "LegalName")
_TELEPHONE = re.compile(r"[0-9 +()-]{6,30}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class ImportRefused(ValueError):
    """The file as a whole cannot be imported (unreadable, or its header is wrong)."""


class RowRejected(ValueError):
    """One row breaks a rule; the message says which."""


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: int = 0


@dataclass(frozen=True)
class Reject:
    line: int
    ukprn: str
    reason: str


def is_register_ukprn(value: str) -> bool:
    """A UKPRN the register issues: 8 digits, the first a 1."""
    return is_valid_ukprn(value) and value.startswith("1")


def import_file(
    db: Database, path: Path, by: str, rejects: list[Reject] | None = None
) -> ImportResult:
    """Upsert every valid row of ``path``; rejected rows are appended to ``rejects``."""
    result = ImportResult()
    rejects = rejects if rejects is not None else []
    chunk: list[ProviderDetails] = []
    for line, row, problem in _rows(path):
        result.rows += 1
        try:
            if problem:
                raise RowRejected(problem)
            chunk.append(parse_row(row))
        except RowRejected as reason:
            rejects.append(Reject(line, (row.get("UKPRN") or "").strip(), str(reason)))
            result.rejected += 1
            continue
        if len(chunk) >= CHUNK:
            _write(db, chunk, by, result)
            chunk = []
    if chunk:
        _write(db, chunk, by, result)
    return result


def _write(db: Database, chunk: list[ProviderDetails], by: str, result: ImportResult) -> None:
    with db.transaction() as session:
        for fields_changed in upsert_many(session, chunk, by).values():
            if not fields_changed:
                result.unchanged += 1
            elif fields_changed[0] == "created":
                result.created += 1
            else:
                result.changed += 1


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str], str | None]]:
    """(line number, row, what is wrong with it as a row of the file) for every data row."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        raise ImportRefused(f"cannot read {path}: {error.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
        except (csv.Error, UnicodeDecodeError) as error:
            raise ImportRefused(f"{path} is not a UTF-8 CSV file: {error}") from None
        unknown = [name for name in header if name not in COLUMNS]
        missing = [name for name in REQUIRED if name not in header]
        if unknown or missing:
            raise ImportRefused(
                f"{path}: "
                + "; ".join(
                    part
                    for part in (
                        unknown and f"unknown columns {', '.join(unknown)}",
                        missing and f"missing columns {', '.join(missing)}",
                    )
                    if part
                )
            )
        seen: dict[str, int] = {}
        try:
            for row in reader:
                line = reader.line_num
                ukprn = (row.get("UKPRN") or "").strip()
                if None in row:
                    yield line, row, "the row has more fields than the header"
                elif ukprn in seen:
                    yield line, row, f"UKPRN {ukprn} is already on line {seen[ukprn]}"
                else:
                    seen[ukprn] = line
                    yield line, row, None
        except (csv.Error, UnicodeDecodeError) as error:
            raise ImportRefused(f"{path} line {reader.line_num}: {error}") from None


def _value(row: dict[str, str], column: str, limit: int = 255) -> str | None:
    value = (row.get(column) or "").strip()
    if len(value) > limit:
        raise RowRejected(f"{column} is longer than {limit} characters")
    return value or None


def _date(row: dict[str, str], column: str) -> dt.date | None:
    value = _value(row, column)
    if value is None:
        return None
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise RowRejected(f"{column} {value!r} is not a date YYYY-MM-DD")


def _pairs(row: dict[str, str], column: str) -> list[tuple[str, str]]:
    value = _value(row, column, 4000)
    pairs = []
    for part in (value or "").split("|"):
        if not part.strip():
            continue
        left, sep, right = part.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise RowRejected(f"{column}: {part.strip()!r} is not NAME=VALUE")
        pairs.append((left.strip(), right.strip()))
    return pairs


def parse_row(row: dict[str, str]) -> ProviderDetails:
    """One CSV row as a register entry; raises RowRejected naming the rule it breaks."""
    ukprn = (row.get("UKPRN") or "").strip()
    if not is_register_ukprn(ukprn):
        raise RowRejected(f"UKPRN {ukprn!r} is not 8 digits starting with 1")
    legal_name = _value(row, "LegalName")
    if legal_name is None or not name_key(legal_name):
        raise RowRejected("LegalName is missing")
    status = _value(row, "Status") or "A"
    if status not in PROVIDER_STATUSES:
        raise RowRejected(f"Status {status!r} is not one of {', '.join(PROVIDER_STATUSES)}")
    aliases: dict[str, Alias] = {}
    for alias in (_value(row, "Aliases", 4000) or "").split("|"):
        alias = alias.strip()
        if len(alias) > 255:
            raise RowRejected("an alias is longer than 255 characters")
        if name_key(alias):
            aliases.setdefault(name_key(alias), Alias(alias))
    verifications: dict[tuple[str, str], Verification] = {}
    for authority, identifier in _pairs(row, "Verifications"):
        if len(authority) > 100 or len(identifier) > 100:
            raise RowRejected("a verification authority or id is longer than 100 characters")
        verifications.setdefault(
            (authority, identifier), Verification(authority, identifier, not verifications)
        )
    associations: dict[tuple[str, str], Association] = {}
    for other, kind in _pairs(row, "Associations"):
        if not is_register_ukprn(other) or other == ukprn:
            raise RowRejected(f"Associations: {other!r} is not another provider's UKPRN")
        if len(kind) > 50:
            raise RowRejected("an association type is longer than 50 characters")
        associations.setdefault((other, kind), Association(other, kind))
    verified_on, expiry_date = _date(row, "VerifiedOn"), _date(row, "ExpiryDate")
    return ProviderDetails(
        ukprn=ukprn,
        legal_name=legal_name,
        status=status,
        trading_name=_value(row, "TradingName"),
        aliases=tuple(aliases.values()),
        contacts={
            kind: contact
            for prefix, kind in CONTACT_PREFIXES.items()
            if (contact := _contact(row, prefix)) is not None
        },
        verifications=tuple(verifications.values()),
        associations=tuple(associations.values()),
        verified_on=verified_on,
        expiry_date=expiry_date,
    )


def _contact(row: dict[str, str], prefix: str) -> Contact | None:
    values = {
        name: _value(row, prefix + suffix, _CONTACT_LENGTHS.get(name, 100))
        for suffix, name in CONTACT_COLUMNS.items()
    }
    if not any(values.values()):
        return None
    postcode = values["postcode"]
    if postcode is not None:
        parts = full_postcode(postcode)
        if parts is None:
            raise RowRejected(f"{prefix}Postcode {postcode!r} is not a UK postcode")
        values["postcode"] = " ".join(parts)
    if values["email"] is not None and not _EMAIL.fullmatch(values["email"]):
        raise RowRejected(f"{prefix}Email {values['email']!r} is not an e-mail address")
    if values["telephone"] is not None and not _TELEPHONE.fullmatch(values["telephone"]):
        raise RowRejected(f"{prefix}Telephone {values['telephone']!r} is not a telephone number")
    return Contact(**values)


def write_rejects(path: Path, rejects: list[Reject]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "UKPRN", "reason"])
        writer.writerows((r.line, r.ukprn, r.reason) for r in rejects)
