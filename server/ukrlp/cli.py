"""``miap provider …``: one provider in the register (wired into ``miap`` by ``admin/cli.py``).

miap provider add --ukprn N --name NAME --org-password PW [--status A] [--org-ref REF]
miap provider set-status --ukprn N --status PD2
"""

from __future__ import annotations

import argparse

from miap.server.register.providers import add_provider, set_status
from miap.server.settings import Settings, env_name
from miap.storage.engine import Database

COMMANDS = ("provider",)


def add_parser(subparsers) -> None:  # noqa: ANN001 - argparse's private type
    provider = subparsers.add_parser("provider", help="the provider register")
    actions = provider.add_subparsers(dest="action", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(
            name,
            help=help_text,
            description=help_text,
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        sub.add_argument(
            "--db",
            dest="database_url",
            default=None,
            help=f"database URL (default ${env_name('database_url')} or {Settings.database_url})",
        )
        return sub

    add = action("add", "register a provider allowed to call the service")
    add.add_argument("--ukprn", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--org-password", required=True, help="exactly 16 characters")
    add.add_argument("--status", default="A", help="A, V, PD1 or PD2")
    add.add_argument("--org-ref", help="6-character OrganisationRef, optional")
    status = action("set-status", "change a provider's UKRLP status")
    status.add_argument("--ukprn", required=True)
    status.add_argument("--status", required=True, help="A, V, PD1 or PD2")


def run(args: argparse.Namespace, settings: Settings) -> int:
    db = Database(settings.database_url)
    with db.transaction() as session:
        if args.action == "add":
            provider = add_provider(
                session, args.ukprn, args.name, args.org_password, args.status, args.org_ref
            )
            print(f"provider {provider.ukprn} added with status {provider.status}")
        else:
            provider = set_status(session, args.ukprn, args.status)
            print(f"provider {provider.ukprn} now has status {provider.status}")
    return 0
