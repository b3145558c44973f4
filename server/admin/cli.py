"""``miap``: run the service and administer its register.

miap db upgrade [--db URL]
miap provider add --ukprn N --name NAME --org-password PW [--status A] [--org-ref REF]
miap provider set-status --ukprn N --status PD2
miap learner merge MASTER DUPLICATE [--reason TEXT] [--by NAME]
miap learner unmerge MASTER DUPLICATE [--reason TEXT] [--by NAME]
miap learner delete ULN --reason TEXT [--by NAME]
miap serve [--host H] [--port P] [--workers N] [--db URL]
miap demo [--host H] [--port P] [--learners N] [--db URL]
miap synth --count N [--seed S] [--queries Q --out DIR] [--load --db URL]
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import OperationalError, SQLAlchemyError

from miap.server.admin import demo, synth
from miap.server.matching.normalise import default_variants
from miap.server.register import merging
from miap.server.register.merging import MergeError
from miap.server.register.providers import ProviderError, add_provider, set_status
from miap.server.serving import serve
from miap.server.settings import Settings
from miap.server.soap.endpoint import SERVICE_PATH, LearnerServiceApp
from miap.storage import migrations
from miap.storage.engine import Database, database_url


class CliError(Exception):
    """A refusal to report on stderr with exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="miap", description="Learner Registration Service")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(parent, name: str, help_text: str) -> argparse.ArgumentParser:  # noqa: ANN001
        sub = parent.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--db", help="database URL (default $MIAP_DATABASE_URL or sqlite:///miap.db)"
        )
        return sub

    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="action", required=True
    )
    command(db, "upgrade", "apply all migrations")

    provider = commands.add_parser("provider", help="the provider register")
    provider_actions = provider.add_subparsers(dest="action", required=True)
    add = command(provider_actions, "add", "register a provider allowed to call the service")
    add.add_argument("--ukprn", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--org-password", required=True, help="exactly 16 characters")
    add.add_argument("--status", default="A", help="A, V, PD1 or PD2 (default A)")
    add.add_argument("--org-ref", help="6-character OrganisationRef, optional")
    status = command(provider_actions, "set-status", "change a provider's UKRLP status")
    status.add_argument("--ukprn", required=True)
    status.add_argument("--status", required=True, help="A, V, PD1 or PD2")

    learner = commands.add_parser("learner", help="merge, unmerge and withdraw ULNs")
    learner_actions = learner.add_subparsers(dest="action", required=True)
    for name, help_text in (
        ("merge", "merge DUPLICATE into MASTER: finds of DUPLICATE answer with MASTER"),
        ("unmerge", "undo a merge: DUPLICATE answers for itself again"),
    ):
        sub = command(learner_actions, name, help_text)
        sub.add_argument("master", metavar="MASTER", help="the ULN that is kept")
        sub.add_argument("duplicate", metavar="DUPLICATE", help="the duplicate ULN")
        sub.add_argument("--reason", help="why (kept with the merge history)")
        sub.add_argument("--by", help="who is making the change (default: your OS user name)")
    delete = command(learner_actions, "delete", "withdraw a ULN; it is never issued again")
    delete.add_argument("uln", metavar="ULN")
    delete.add_argument("--reason", required=True, help="why the ULN is withdrawn")
    delete.add_argument("--by", help="who is making the change (default: your OS user name)")

    population = command(commands, "synth", "synthetic learners (and noisy searches)")
    population.add_argument("--count", type=int, required=True, help="how many people")
    population.add_argument("--seed", type=int, default=0, help="same seed, same people")
    population.add_argument("--queries", type=int, default=0, help="also write so many searches")
    population.add_argument("--out", type=Path, help="folder for people.csv and queries.csv")
    population.add_argument("--load", action="store_true", help="register them in --db instead")
    population.add_argument("--ukprn", default=demo.DEMO_UKPRN, help="registering provider")

    for name, help_text in (
        ("serve", "serve the LearnerService over HTTP"),
        ("demo", "seed synthetic demo data (idempotent), then serve"),
    ):
        sub = command(commands, name, help_text)
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=8000)
        sub.add_argument("--workers", type=int, default=1, help="processes (gunicorn workers)")
        sub.add_argument("--threads", type=int, default=8, help="threads per worker")
        sub.add_argument("--max-body-bytes", type=int, default=Settings.max_body_bytes)
        sub.add_argument("--public-url", help="service URL as clients see it (behind a proxy)")
        sub.add_argument(
            "--validate-responses",
            action="store_true",
            default=os.environ.get("MIAP_VALIDATE_RESPONSES") == "1",
            help="also hold every response to the published schemas",
        )
        if name == "demo":
            sub.add_argument("--learners", type=int, default=300)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (CliError, ProviderError, MergeError) as exc:
        print(f"miap: error: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        print(f"miap: error: cannot use the database: {exc.orig}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"miap: error: database error: {type(exc).__name__}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    url = database_url(args.db)
    if args.command == "db":
        migrations.upgrade(url)
        print(f"database at revision {migrations.head_revision()}")
        return 0
    if args.command == "provider":
        return _provider(args, url)
    if args.command == "learner":
        return _learner(args, url)
    if args.command == "synth":
        return _synth(args, url)
    if args.command == "demo":
        migrations.upgrade(url)
        db = Database(url)
        counts = demo.seed(db, count=args.learners)
        _print_demo(args, db, counts)
        db.dispose()
    return _serve(args, url)


def _provider(args: argparse.Namespace, url: str) -> int:
    db = Database(url)
    _require_schema(db)
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


def _synth(args: argparse.Namespace, url: str) -> int:
    if args.count < 1 or args.queries < 0:
        raise CliError("--count must be at least 1 and --queries not negative")
    if args.queries and not args.out:
        raise CliError("--queries needs --out DIR (people.csv and queries.csv are written there)")
    population = synth.Population(args.seed)
    people = list(population.people(args.count))
    if args.load:
        db = Database(url)
        _require_schema(db)
        synth.load(db, people, args.ukprn)
        db.dispose()
        print(f"registered {len(people)} synthetic learners", file=sys.stderr)
    elif args.out is None:
        synth.write_people(people, sys.stdout)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        with (args.out / "people.csv").open("w", newline="", encoding="utf-8") as out:
            synth.write_people(people, out)
        if args.queries:
            stream = synth.noisy_queries(
                synth.Population(args.seed + 1), people, args.queries, default_variants()
            )
            with (args.out / "queries.csv").open("w", newline="", encoding="utf-8") as out:
                synth.write_queries(stream, out)
        print(
            f"wrote {args.out}/people.csv" + (" and queries.csv" if args.queries else ""),
            file=sys.stderr,
        )
    return 0


def _learner(args: argparse.Namespace, url: str) -> int:
    by = args.by if args.by is not None else _os_user()
    db = Database(url)
    _require_schema(db)
    with db.transaction() as session:
        if args.action == "merge":
            merging.merge(session, args.master, args.duplicate, by, args.reason)
            done = f"ULN {args.duplicate} merged into {args.master}"
        elif args.action == "unmerge":
            merging.unmerge(session, args.master, args.duplicate, by, args.reason)
            done = f"ULN {args.duplicate} unmerged from {args.master}"
        else:
            merging.withdraw(session, args.uln, args.reason, by)
            done = f"ULN {args.uln} withdrawn"
    db.dispose()
    print(done)
    return 0


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise CliError("cannot tell who you are: pass --by NAME") from None


def _require_schema(db: Database) -> None:
    current, head = migrations.current_revision(db.engine), migrations.head_revision()
    if current != head:
        raise CliError(
            f"the database schema is at {current or 'nothing'}, not {head}: "
            "run `miap db upgrade` with the same --db first"
        )


def _serve(args: argparse.Namespace, url: str) -> int:
    if args.workers < 1 or args.threads < 1:
        raise CliError("--workers and --threads must be at least 1")
    check = Database(url)
    _require_schema(check)
    check.dispose()
    settings = Settings(
        max_body_bytes=args.max_body_bytes,
        validate_responses=args.validate_responses,
        public_url=args.public_url,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    print(f"miap: serving http://{args.host}:{args.port}{SERVICE_PATH}?wsdl", flush=True)
    serve(
        lambda: LearnerServiceApp(Database(url), settings),
        args.host,
        args.port,
        workers=args.workers,
        threads=args.threads,
    )
    return 0


def _print_demo(args: argparse.Namespace, db: Database, counts: dict[str, int]) -> None:
    print(f"demo data: {counts['learners_added']} synthetic learners added")
    print(f"WSDL:         http://{args.host}:{args.port}{SERVICE_PATH}?wsdl")
    print(f"UKPRN:        {demo.DEMO_UKPRN}")
    print(f"OrgPassword:  {demo.DEMO_PASSWORD}")
    print(f"UserName:     {demo.DEMO_USER} (any name; it is recorded in the audit log)")
    print("Try, in another shell:")
    for learner in demo.example_learners(db, 1):
        print(
            f"  miap-client --url http://{args.host}:{args.port}{SERVICE_PATH} "
            f"--ukprn {demo.DEMO_UKPRN} --password {demo.DEMO_PASSWORD} "
            f"find-uln {learner.uln} --given {learner.given_name!r} "
            f"--family {learner.family_name!r}"
        )


if __name__ == "__main__":
    sys.exit(main())
