"""``miap portal …``: portal accounts from the command line.

miap portal user add --email E --role admin|registrar|viewer --ukprn N [--base-url URL]
miap portal user add --email E --role service-admin [--base-url URL]
miap portal user unlock --email E
miap portal user reset-two-step --email E
miap portal learner-code --uln ULN [--base-url URL]
miap portal purge-sessions

Each account starts inactive: the command prints a one-time activation link (7 days) on which
the user sets their password. Only the link's code is secret; nothing else is printed.
"""

from __future__ import annotations

import argparse
import getpass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from miap.server.commands import action
from miap.server.exceptions import AdminRefusal
from miap.server.portal import accounts, web
from miap.server.portal.sessions import Sessions
from miap.server.register import audit
from miap.server.settings import Settings
from miap.storage.engine import Database
from miap.storage.portal import PortalUser

COMMANDS = ("portal",)


def _who() -> str:
    try:
        return f"cli {getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _staff(session: Session, email: str) -> PortalUser:
    user = session.scalars(
        select(PortalUser).where(PortalUser.email == email.strip().lower())
    ).first()
    if user is None:
        raise AdminRefusal(f"no portal account {email}")
    return user


def _audit(session: Session, operation: str, ulns: list[str] | None = None) -> None:
    """An account change made here, audited in its own transaction (route CLI)."""
    audit.record_administration(session, by=_who()[:35], operation=operation, ulns=ulns or ())


def add_parser(subparsers) -> None:  # noqa: ANN001 - argparse's private type
    portal = subparsers.add_parser("portal", help="portal accounts (docs/portal.md)")
    actions = portal.add_subparsers(dest="action", required=True)

    def base_url(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--base-url",
            help="the portal's public address, for the link (default: from --public-url "
            "settings, else http://HOST:PORT of miap serve)",
        )

    user = actions.add_parser("user", help="staff accounts")
    users = user.add_subparsers(dest="user_action", required=True)
    add = action(users, "add", "add a provider user or a service administrator")
    add.add_argument("--email", required=True)
    add.add_argument("--role", required=True, choices=accounts.ROLES)
    add.add_argument("--ukprn", help="the provider (not for service-admin)")
    base_url(add)
    unlock = action(users, "unlock", "unlock an account locked by failed sign-ins")
    unlock.add_argument("--email", required=True)
    reset = action(
        users,
        "reset-two-step",
        "turn an account's two-step sign-in off (its authenticator is lost); it signs in with "
        "its password until it enrols an app again",
    )
    reset.add_argument("--email", required=True)
    code = action(actions, "learner-code", "a learner's one-time activation link")
    code.add_argument("--uln", required=True)
    base_url(code)
    action(actions, "purge-sessions", "delete expired sessions")


def _link(args: argparse.Namespace, settings: Settings, code: str) -> str:
    if args.base_url:
        base = args.base_url.rstrip("/")
    elif settings.public_url:
        parts = urlsplit(settings.public_url)
        base = f"{parts.scheme}://{parts.netloc}"
    else:
        base = f"http://{settings.host}:{settings.port}"
    return f"{base}{web.PREFIX}/activate/{code}"


def run(args: argparse.Namespace, settings: Settings) -> int:
    db = Database(settings.database_url)
    try:
        if args.action == "user" and args.user_action == "add":
            with db.transaction() as session:
                user, code = accounts.add_staff(session, args.email, args.role, args.ukprn, _who())
                _audit(session, accounts.audited_operation("add", user))
                email = user.email
            print(f"{email} ({args.role}) added; activation link (once, 7 days):")
            print(_link(args, settings, code))
        elif args.action == "user" and args.user_action == "unlock":
            with db.transaction() as session:
                user = _staff(session, args.email)
                accounts.unlock(user)
                _audit(session, accounts.audited_operation("unlock", user))
            print(f"{args.email} unlocked")
        elif args.action == "user" and args.user_action == "reset-two-step":
            with db.transaction() as session:
                user = _staff(session, args.email)
                if not user.totp_secret:
                    raise AdminRefusal(f"{args.email} has no two-step sign-in to turn off")
                accounts.reset_second_factor(user)
                Sessions.end_all(session, user.id)
                _audit(session, accounts.audited_operation("reset-two-step", user))
            print(f"{args.email}: two-step sign-in is off; their sessions are ended")
        elif args.action == "learner-code":
            with db.transaction() as session:
                code = accounts.issue_learner_code(session, args.uln, _who())
                _audit(session, "issueLearnerCode", [args.uln])
            print(f"learner {args.uln}: activation link (once, 7 days):")
            print(_link(args, settings, code))
        elif args.action == "purge-sessions":
            with db.transaction() as session:
                count = Sessions.purge(session)
            print(f"{count} expired sessions deleted")
    finally:
        db.dispose()
    return 0
