"""``miap provider …`` (one provider) and ``miap providers …`` (the register as a whole).

miap provider add --ukprn N --name NAME --org-password PW [--status A] [--org-ref REF]
miap provider show --ukprn N [--history]
miap provider set-status --ukprn N --status PD2 [--by NAME]
miap provider set-password --ukprn N --org-password PW [--by NAME]
miap providers import FILE [--rejects FILE] [--by NAME]
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from miap.server.commands import action
from miap.server.exceptions import AdminRefusal
from miap.server.register.providers import add_provider, set_password, set_status
from miap.server.settings import Settings
from miap.server.ukrlp import importer, register
from miap.storage.engine import Database

COMMANDS = ("provider", "providers")


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "admin"


def add_parser(subparsers) -> None:  # noqa: ANN001 - argparse's private type
    provider = subparsers.add_parser("provider", help="one provider in the register")
    providers = subparsers.add_parser("providers", help="the provider register as a whole")
    one = provider.add_subparsers(dest="action", required=True)
    many = providers.add_subparsers(dest="action", required=True)

    def by(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--by", default=_who(), help="who the history records the change as by")

    add = action(one, "add", "register a provider allowed to call the service")
    add.add_argument("--ukprn", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--org-password", required=True, help="exactly 16 characters")
    add.add_argument("--status", default="A", help="A, V, PD1 or PD2")
    add.add_argument("--org-ref", help="6-character OrganisationRef, optional")
    by(add)
    show = action(one, "show", "show a provider's register entry")
    show.add_argument("--ukprn", required=True)
    show.add_argument("--history", action="store_true", help="also every change, oldest first")
    status = action(one, "set-status", "change a provider's UKRLP status")
    status.add_argument("--ukprn", required=True)
    status.add_argument("--status", required=True, help="A, V, PD1 or PD2")
    by(status)
    password = action(one, "set-password", "give a provider a (new) OrgPassword")
    password.add_argument("--ukprn", required=True)
    password.add_argument("--org-password", required=True, help="exactly 16 characters")
    by(password)
    load = action(many, "import", "add or update providers from a CSV file (docs/ukrlp.md)")
    load.add_argument("file", type=Path)
    load.add_argument("--rejects", type=Path, help="write rejected rows (line, UKPRN, reason)")
    by(load)


def run(args: argparse.Namespace, settings: Settings) -> int:
    db = Database(settings.database_url)
    if args.command == "providers":
        return _import(db, args)
    if args.action == "show":
        return _show(db, args.ukprn, args.history)
    with db.transaction() as session:
        if args.action == "add":
            provider = add_provider(
                session,
                args.ukprn,
                args.name,
                args.org_password,
                args.status,
                args.org_ref,
                by=args.by,
            )
            print(f"provider {provider.ukprn} added with status {provider.status}")
        elif args.action == "set-status":
            provider = set_status(session, args.ukprn, args.status, by=args.by)
            print(f"provider {provider.ukprn} now has status {provider.status}")
        else:
            provider = set_password(session, args.ukprn, args.org_password, by=args.by)
            print(f"provider {provider.ukprn} has a new OrgPassword")
    return 0


def _import(db: Database, args: argparse.Namespace) -> int:
    rejects: list[importer.Reject] = []
    try:
        result = importer.import_file(db, args.file, args.by, rejects)
    except importer.ImportRefused as error:
        raise AdminRefusal(str(error)) from None
    if args.rejects is not None:
        importer.write_rejects(args.rejects, rejects)
    else:
        for reject in rejects:
            print(f"line {reject.line}: {reject.reason}", file=sys.stderr)
    print(
        f"{result.rows} rows: {result.created} new, {result.changed} changed,"
        f" {result.unchanged} unchanged, {result.rejected} rejected"
    )
    return 0


def _show(db: Database, ukprn: str, with_history: bool) -> int:
    with db.reading() as session:
        entry = register.load(session, [ukprn]).get(ukprn)
        changes = register.history(session, ukprn) if with_history else []
    if entry is None:
        raise AdminRefusal(f"no provider with UKPRN {ukprn}")
    lines = [
        f"UKPRN          {entry.ukprn}",
        f"legal name     {entry.legal_name}",
        f"trading name   {entry.trading_name or '-'}",
        f"status         {entry.status} ({register.STATUS_NAMES[entry.status]})",
        f"verified on    {entry.verified_on or '-'}",
        f"expiry date    {entry.expiry_date or '-'}",
        f"updated at     {entry.updated_at or '-'}",
    ]
    lines += [f"alias          {alias.name}" for alias in entry.aliases]
    for kind, label in register.CONTACT_TYPES.items():
        contact = entry.contacts.get(kind)
        if contact is None:
            continue
        for name in register.CONTACT_FIELDS:
            value = getattr(contact, name)
            if value:
                lines.append(f"{label}.{name:<22} {value}")
    lines += [
        f"verification   {v.authority}: {v.verification_id}{' (primary)' if v.primary else ''}"
        for v in entry.verifications
    ]
    lines += [f"association    {a.ukprn} {a.association_type}" for a in entry.associations]
    for change in changes:
        lines.append(
            f"{change.at:%Y-%m-%d %H:%M:%S} {change.by}: {change.field}"
            f" {change.old_value or '-'} -> {change.new_value or '-'}"
        )
    print("\n".join(lines))
    return 0
