"""The provider register: one provider's full entry, written with its history.

A provider is its account row (``providers``: UKPRN, legal name, status, password hash) and
its register details (``storage/ukrlp.py``). ``upsert`` writes a whole entry: it compares it
with what is stored and writes only the differences, each with one history row (who, when,
field, old and new value), so writing the same entry again changes nothing and records
nothing. Providers created here without a password cannot call the services until one is
set (``set_password``): their password hash is ``LOCKED_HASH``, which no password verifies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from miap.server.register.auth import PROVIDER_STATUSES
from miap.server.ukrlp.keys import district_of, name_key, postcode_key
from miap.storage.models import Provider, utcnow
from miap.storage.ukrlp import (
    ProviderAssociation,
    ProviderChange,
    ProviderContact,
    ProviderEntry,
    ProviderName,
    ProviderVerification,
)

#: The password hash of a provider that has no password yet: not a hash, so nothing verifies.
LOCKED_HASH = "!locked"
#: Contact types: the legal address and the primary contact.
CONTACT_TYPES = {"L": "legal", "P": "primary"}
#: Statuses allowed to call the services (the authenticator's rule, repeated for display).
STATUS_NAMES = {
    "A": "active",
    "V": "verified",
    "PD1": "deactivation in process",
    "PD2": "deactivation complete",
}
assert tuple(STATUS_NAMES) == PROVIDER_STATUSES


@dataclass(frozen=True)
class Contact:
    """A postal address, the person to contact there and how."""

    address1: str | None = None
    address2: str | None = None
    address3: str | None = None
    address4: str | None = None
    town: str | None = None
    county: str | None = None
    postcode: str | None = None
    person_title: str | None = None
    person_given_name: str | None = None
    person_family_name: str | None = None
    role: str | None = None
    telephone: str | None = None
    email: str | None = None
    website: str | None = None
    #: When the register last changed it (filled in on reading; ignored on writing).
    last_updated: dt.date | None = field(default=None, compare=False)


CONTACT_FIELDS = tuple(f.name for f in fields(Contact) if f.name != "last_updated")


@dataclass(frozen=True)
class Verification:
    authority: str
    verification_id: str
    primary: bool = False


@dataclass(frozen=True)
class Association:
    ukprn: str
    association_type: str
    last_updated: dt.date | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Alias:
    name: str
    last_updated: dt.date | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ProviderDetails:
    """One provider's register entry as the domain sees it (in and out)."""

    ukprn: str
    legal_name: str
    status: str = "A"
    trading_name: str | None = None
    aliases: tuple[Alias, ...] = ()
    #: Contact type (``L`` or ``P``) -> contact.
    contacts: dict[str, Contact] = field(default_factory=dict)
    verifications: tuple[Verification, ...] = ()
    associations: tuple[Association, ...] = ()
    verified_on: dt.date | None = None
    expiry_date: dt.date | None = None
    #: When anything in the entry last changed (filled in on reading).
    updated_at: dt.datetime | None = None


@dataclass(frozen=True)
class Change:
    at: dt.datetime
    by: str
    field: str
    old_value: str | None
    new_value: str | None


# -- reading ------------------------------------------------------------------------------


def load(session: Session, ukprns: Sequence[str]) -> dict[str, ProviderDetails]:
    """The entries of ``ukprns`` that exist, in a fixed number of queries whatever the count."""
    wanted = list(dict.fromkeys(ukprns))
    if not wanted:
        return {}
    rows = session.execute(
        select(
            Provider.ukprn,
            Provider.name,
            Provider.status,
            ProviderEntry.verified_on,
            ProviderEntry.expiry_date,
            ProviderEntry.updated_at,
        )
        .join(ProviderEntry, ProviderEntry.ukprn == Provider.ukprn, isouter=True)
        .where(Provider.ukprn.in_(wanted))
    ).all()
    trading: dict[str, str] = {}
    aliases: dict[str, list[Alias]] = {u: [] for u in wanted}
    for name in session.execute(
        # Plain rows, not ORM objects: an answer may read thousands.
        select(ProviderName.__table__)
        .where(ProviderName.ukprn.in_(wanted), ProviderName.kind != "legal")
        .order_by(ProviderName.ukprn, ProviderName.id)
    ):
        if name.kind == "trading":
            trading[name.ukprn] = name.name
        else:
            aliases[name.ukprn].append(Alias(name.name, name.last_updated))
    contacts: dict[str, dict[str, Contact]] = {u: {} for u in wanted}
    for contact in session.execute(
        select(ProviderContact.__table__)
        .where(ProviderContact.ukprn.in_(wanted))
        .order_by(ProviderContact.ukprn, ProviderContact.contact_type)
    ):
        contacts[contact.ukprn][contact.contact_type] = Contact(
            **{name: getattr(contact, name) for name in CONTACT_FIELDS},
            last_updated=contact.last_updated,
        )
    verifications: dict[str, list[Verification]] = {u: [] for u in wanted}
    for row in session.execute(
        select(ProviderVerification.__table__)
        .where(ProviderVerification.ukprn.in_(wanted))
        .order_by(ProviderVerification.ukprn, ProviderVerification.id)
    ):
        verifications[row.ukprn].append(
            Verification(row.authority, row.verification_id, row.primary_source)
        )
    associations: dict[str, list[Association]] = {u: [] for u in wanted}
    for row in session.execute(
        select(ProviderAssociation.__table__)
        .where(ProviderAssociation.ukprn.in_(wanted))
        .order_by(ProviderAssociation.ukprn, ProviderAssociation.id)
    ):
        associations[row.ukprn].append(
            Association(row.associated_ukprn, row.association_type, row.last_updated)
        )
    found = {}
    for ukprn, legal_name, status, verified_on, expiry_date, updated_at in rows:
        found[ukprn] = ProviderDetails(
            ukprn=ukprn,
            legal_name=legal_name,
            status=status,
            trading_name=trading.get(ukprn),
            aliases=tuple(aliases[ukprn]),
            contacts=contacts[ukprn],
            verifications=tuple(verifications[ukprn]),
            associations=tuple(associations[ukprn]),
            verified_on=verified_on,
            expiry_date=expiry_date,
            updated_at=updated_at,
        )
    return found


def history(session: Session, ukprn: str) -> list[Change]:
    """Every change to ``ukprn``'s entry, oldest first."""
    return [
        Change(row.at, row.by, row.field, row.old_value, row.new_value)
        for row in session.scalars(
            select(ProviderChange)
            .where(ProviderChange.ukprn == ukprn)
            .order_by(ProviderChange.at, ProviderChange.id)
        )
    ]


# -- writing ------------------------------------------------------------------------------


def upsert_many(
    session: Session, entries: Iterable[ProviderDetails], by: str
) -> dict[str, list[str]]:
    """Write each entry over what is stored; UKPRN -> the fields that changed (empty when the
    entry was already so). New providers get ``LOCKED_HASH``. Entries must be valid (the
    importer and the CLI check them) and carry distinct UKPRNs.

    Set-based: the stored entries are read in a fixed number of queries, and the changed ones
    rewritten with one multi-row statement per table, however many there are.
    """
    entries = list(entries)
    stored = load(session, [entry.ukprn for entry in entries])
    now = utcnow()
    changed: dict[str, list[str]] = {}
    history: list[dict] = []
    rewritten: list[ProviderDetails] = []
    for entry in entries:
        changes = _diff(stored.get(entry.ukprn), entry)
        changed[entry.ukprn] = [name for name, _, _ in changes]
        if changes:
            rewritten.append(entry)
            history += [
                {
                    "ukprn": entry.ukprn,
                    "at": now,
                    "by": by,
                    "field": name,
                    "old_value": old,
                    "new_value": new,
                }
                for name, old, new in changes
            ]
    if rewritten:
        _write(session, stored, rewritten, now)
        session.execute(insert(ProviderChange), history)
    return changed


def upsert(session: Session, entry: ProviderDetails, by: str) -> list[str]:
    """Write one entry (see ``upsert_many``); the fields that changed."""
    return upsert_many(session, [entry], by)[entry.ukprn]


def change(session: Session, ukprn: str, by: str, **values: object) -> list[str]:
    """Change some fields of a stored entry (e.g. ``status="PD2"``); the fields that changed.
    Raises KeyError when the provider is not registered."""
    current = load(session, [ukprn])[ukprn]
    return upsert(session, replace(current, **values), by)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _scalars(details: ProviderDetails | None) -> dict[str, str | None]:
    """The entry's single-valued fields as history texts (all None for no entry)."""
    values: dict[str, str | None] = {}
    for name in ("legal_name", "status", "trading_name", "verified_on", "expiry_date"):
        values[name] = _text(getattr(details, name)) if details else None
    for kind, label in CONTACT_TYPES.items():
        contact = details.contacts.get(kind) if details else None
        for name in CONTACT_FIELDS:
            values[f"{label}.{name}"] = _text(getattr(contact, name)) if contact else None
    return values


def _diff(
    old: ProviderDetails | None, new: ProviderDetails
) -> list[tuple[str, str | None, str | None]]:
    """(field, old value, new value) for every difference, in a fixed order."""
    changes: list[tuple[str, str | None, str | None]] = []
    if old is None:
        changes.append(("created", None, new.ukprn))
    before, after = _scalars(old), _scalars(new)
    changes += [(name, before[name], after[name]) for name in after if before[name] != after[name]]
    _compare_sets(
        changes,
        "alias",
        [a.name for a in old.aliases] if old else [],
        [a.name for a in new.aliases],
    )
    _compare_sets(
        changes,
        "verification",
        [_verification_text(v) for v in old.verifications] if old else [],
        [_verification_text(v) for v in new.verifications],
    )
    _compare_sets(
        changes,
        "association",
        [f"{a.ukprn} {a.association_type}" for a in old.associations] if old else [],
        [f"{a.ukprn} {a.association_type}" for a in new.associations],
    )
    return changes


def _verification_text(verification: Verification) -> str:
    primary = " (primary)" if verification.primary else ""
    return f"{verification.authority}: {verification.verification_id}{primary}"


def _compare_sets(changes: list, name: str, before: list[str], after: list[str]) -> None:
    for value in before:
        if value not in after:
            changes.append((name, value, None))
    for value in after:
        if value not in before:
            changes.append((name, None, value))


def _write(
    session: Session,
    stored: dict[str, ProviderDetails],
    entries: list[ProviderDetails],
    now: dt.datetime,
) -> None:
    """Replace the stored entries of ``entries`` with them. Account rows are updated in
    place (their password and id are kept); the details are deleted and written again,
    keeping the LastUpdated of every alias, contact and association that did not change."""
    today = now.date()
    ukprns = [entry.ukprn for entry in entries]
    accounts = set(session.scalars(select(Provider.ukprn).where(Provider.ukprn.in_(ukprns))))
    new_accounts = [
        {
            "ukprn": e.ukprn,
            "name": e.legal_name,
            "status": e.status,
            "password_hash": LOCKED_HASH,
            "created_at": now,
            "updated_at": now,
        }
        for e in entries
        if e.ukprn not in accounts
    ]
    if new_accounts:
        session.execute(insert(Provider), new_accounts)
    moved = [
        {"key": e.ukprn, "name": e.legal_name, "status": e.status, "updated_at": now}
        for e in entries
        if e.ukprn in accounts
        and (stored[e.ukprn].legal_name, stored[e.ukprn].status) != (e.legal_name, e.status)
    ]
    if moved:
        provider = Provider.__table__
        session.execute(
            update(provider)
            .where(provider.c.ukprn == bindparam("key"))
            .values(
                name=bindparam("name"),
                status=bindparam("status"),
                updated_at=bindparam("updated_at"),
            ),
            moved,
        )
    dates = [
        {
            "ukprn": e.ukprn,
            "verified_on": e.verified_on,
            "expiry_date": e.expiry_date,
            "updated_at": now,
        }
        for e in entries
    ]
    session.execute(delete(ProviderEntry).where(ProviderEntry.ukprn.in_(ukprns)))
    session.execute(insert(ProviderEntry), dates)
    for table in (ProviderName, ProviderContact, ProviderVerification, ProviderAssociation):
        session.execute(delete(table).where(table.ukprn.in_(ukprns)))
    names, contacts, verifications, associations = [], [], [], []
    for entry in entries:
        old = stored.get(entry.ukprn)
        names += _name_rows(old, entry, today)
        for kind, contact in entry.contacts.items():
            before = old.contacts.get(kind) if old else None
            row = {name: getattr(contact, name) for name in CONTACT_FIELDS}
            row.update(
                ukprn=entry.ukprn,
                contact_type=kind,
                postcode_key=postcode_key(contact.postcode),
                district=district_of(contact.postcode) if contact.postcode else None,
                last_updated=before.last_updated
                if before == contact and before.last_updated
                else today,
            )
            contacts.append(row)
        verifications += [
            {
                "ukprn": entry.ukprn,
                "authority": v.authority,
                "verification_id": v.verification_id,
                "primary_source": v.primary,
            }
            for v in entry.verifications
        ]
        kept = {
            (a.ukprn, a.association_type): a.last_updated for a in (old.associations if old else ())
        }
        associations += [
            {
                "ukprn": entry.ukprn,
                "associated_ukprn": a.ukprn,
                "association_type": a.association_type,
                "last_updated": kept.get((a.ukprn, a.association_type)) or today,
            }
            for a in entry.associations
        ]
    for table, rows in (
        (ProviderName, names),
        (ProviderContact, contacts),
        (ProviderVerification, verifications),
        (ProviderAssociation, associations),
    ):
        if rows:
            session.execute(insert(table), rows)


def _name_rows(old: ProviderDetails | None, new: ProviderDetails, today: dt.date) -> list[dict]:
    """The name rows of ``new``: one per distinct (kind, key); an alias that was there keeps
    its LastUpdated."""
    kept = {alias.name: alias.last_updated for alias in (old.aliases if old else ())}
    wanted = [("legal", new.legal_name)]
    if new.trading_name:
        wanted.append(("trading", new.trading_name))
    wanted += [("alias", alias.name) for alias in new.aliases]
    rows, seen = [], set()
    for kind, name in wanted:
        key = name_key(name)
        if (kind, key) in seen:
            continue
        seen.add((kind, key))
        last = kept.get(name) if kind == "alias" else None
        rows.append(
            {
                "ukprn": new.ukprn,
                "kind": kind,
                "name": name,
                "name_key": key,
                "last_updated": last or today,
            }
        )
    return rows


def record(
    session: Session, ukprn: str, by: str, name: str, old: str | None, new: str | None
) -> None:
    """Keep a change made outside the entry (e.g. a password set) in the history."""
    session.add(
        ProviderChange(ukprn=ukprn, at=utcnow(), by=by, field=name, old_value=old, new_value=new)
    )
