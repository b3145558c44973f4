"""``miap audit``: who read or changed a learner's record, for administrators; ``miap access``:
the organisations granted a user type other than ORG (docs/access.md).

miap audit --uln ULN [--page N] [--page-size N] [--by NAME] [--db URL]
miap access grant|revoke --ukprn N --user-type LNR|AO [--db URL]

Every entry of the learner (and of ULNs merged into them), newest first, one per line: when,
route, organisation (UKPRN), user type, user name, operation, outcome, the ULN. Reading it is
itself audited (route CLI, operation ``audit``), so the learner sees that it was read.
"""

from __future__ import annotations

import argparse
import getpass

from miap.server.access import audit_view, grants, learner_record
from miap.server.commands import DefaultsShown, action, add_db_flag
from miap.server.exceptions import AdminRefusal
from miap.server.register import audit, learners
from miap.server.register.identifiers import is_valid_uln
from miap.server.settings import Settings
from miap.storage.engine import Database

COMMANDS = ("audit", "access")


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "admin"


def add_parser(subparsers) -> None:  # noqa: ANN001 - argparse's private type
    parser = subparsers.add_parser(
        "audit",
        help="who read or changed a learner's record (newest first)",
        description="Every audit entry of a learner and of the ULNs merged into them.",
        formatter_class=DefaultsShown,
    )
    parser.add_argument("--uln", required=True, help="the learner's ULN")
    parser.add_argument("--page", type=int, default=1, help="page number, from 1")
    parser.add_argument("--page-size", type=int, default=50, help="entries per page")
    parser.add_argument("--by", default=_who(), help="who the audit records this reading as")
    add_db_flag(parser)
    access = subparsers.add_parser("access", help="grant an organisation the LNR or AO user type")
    actions = access.add_subparsers(dest="action", required=True)
    for name, text in (
        ("grant", "let an organisation act as LNR (a learner portal) or AO (an awarding body)"),
        ("revoke", "withdraw a grant; it holds from the organisation's next request"),
    ):
        sub = action(actions, name, text)
        sub.add_argument("--ukprn", required=True)
        sub.add_argument("--user-type", required=True, choices=grants.GRANTABLE)


_HEADER = ("at", "route", "ukprn", "type", "user", "operation", "outcome", "uln")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "access":
        return _access(args, settings)
    if not is_valid_uln(args.uln):
        raise AdminRefusal(f"{args.uln!r} is not a valid ULN")
    if args.page < 1 or not 1 <= args.page_size <= 1000:
        raise AdminRefusal("--page must be at least 1 and --page-size 1 to 1000")
    db = Database(args.database_url or settings.database_url)
    try:
        with db.transaction() as session:
            learner = learners.learner_by_uln(session, args.uln)
            ulns = learner_record.same_learner_ulns(session, learner) if learner else [args.uln]
            page = audit_view.page_of(session, ulns, args.page, args.page_size)
            audit.record_administration(
                session, by=args.by[:35], operation="audit", ulns=[args.uln]
            )
    finally:
        db.dispose()
    print("\t".join(_HEADER))
    for entry in page.entries:
        print(
            "\t".join(
                value or "-"
                for value in (
                    entry.at.strftime("%Y-%m-%d %H:%M:%S"),
                    entry.route,
                    entry.ukprn,
                    entry.user_type,
                    entry.user_name,
                    entry.action,
                    entry.outcome,
                    entry.uln,
                )
            )
        )
    print(f"# page {page.index} of {page.count}, {page.total} entries")
    return 0


def _access(args: argparse.Namespace, settings: Settings) -> int:
    db = Database(settings.database_url)
    try:
        with db.transaction() as session:
            if args.action == "grant":
                changed = grants.grant(session, args.ukprn, args.user_type, _who())
            else:
                changed = grants.revoke(session, args.ukprn, args.user_type)
    finally:
        db.dispose()
    done = "granted" if args.action == "grant" else "revoked"
    print(f"{args.user_type} {done if changed else 'unchanged'} for {args.ukprn}")
    return 0
