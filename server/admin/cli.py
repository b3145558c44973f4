"""``miap``: run the service and administer its register.

miap db upgrade [--db URL]
miap learner merge MASTER DUPLICATE [--reason TEXT] [--by NAME]
miap learner unmerge MASTER DUPLICATE [--reason TEXT] [--by NAME]
miap learner delete ULN --reason TEXT [--by NAME]
miap serve [--host H] [--port P] [--workers N] [--no-worker] [--db URL]
miap worker [--work-threads N] [--once] [--db URL]
miap batch import FILE [--out OUT] [--job-type FUL|CHK] [--db URL]
miap demo [--host H] [--port P] [--learners N] [--db URL]
miap synth --count N [--seed S] [--queries Q --out DIR] [--load --db URL]
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from miap.server.access import cli as access_cli
from miap.server.admin import demo, synth
from miap.server.analysis import cli as analysis_cli
from miap.server.app import make_app, make_matcher, make_worker
from miap.server.census import cli as census_cli
from miap.server.commands import action
from miap.server.exceptions import AdminRefusal
from miap.server.matching.normalise import default_variants
from miap.server.portal import cli as portal_cli
from miap.server.portal import demo as portal_demo
from miap.server.records import cli as records_cli
from miap.server.register import merging
from miap.server.serving import serve
from miap.server.settings import Settings, env_name
from miap.server.sif import cli as sif_cli
from miap.server.soap.endpoint import SERVICE_PATH
from miap.server.ukrlp import cli as ukrlp_cli
from miap.storage import migrations
from miap.storage.engine import Database, sqlalchemy_url

#: Commands that live beside their capability: each module has COMMANDS, add_parser and run;
#: they may refuse with ``AdminRefusal`` (exit status 2, the message on stderr).
CAPABILITY_CLIS = (
    census_cli,
    records_cli,
    access_cli,
    sif_cli,
    ukrlp_cli,
    analysis_cli,
    portal_cli,
)


class CliError(Exception):
    """A refusal to report on stderr with exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="miap", description="Learner Registration Service")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="action", required=True
    )
    action(db, "upgrade", "apply all migrations")

    learner = commands.add_parser("learner", help="merge, unmerge and withdraw ULNs")
    learner_actions = learner.add_subparsers(dest="action", required=True)
    for name, help_text in (
        ("merge", "merge DUPLICATE into MASTER: finds of DUPLICATE answer with MASTER"),
        ("unmerge", "undo a merge: DUPLICATE answers for itself again"),
    ):
        sub = action(learner_actions, name, help_text)
        sub.add_argument("master", metavar="MASTER", help="the ULN that is kept")
        sub.add_argument("duplicate", metavar="DUPLICATE", help="the duplicate ULN")
        sub.add_argument("--reason", help="why (kept with the merge history)")
        sub.add_argument("--by", help="who is making the change (default: your OS user name)")
    delete = action(learner_actions, "delete", "withdraw a ULN; it is never issued again")
    delete.add_argument("uln", metavar="ULN")
    delete.add_argument("--reason", required=True, help="why the ULN is withdrawn")
    delete.add_argument("--by", help="who is making the change (default: your OS user name)")

    population = action(commands, "synth", "synthetic learners (and noisy searches)")
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
        sub = action(commands, name, help_text)
        _setting_flags(sub, SERVE_SETTINGS)
        sub.add_argument(
            "--no-worker",
            dest="serve_worker",
            action="store_false",
            default=None,
            help="run no work-queue worker beside the server ($MIAP_SERVE_WORKER=0)",
        )
        if name == "demo":
            sub.add_argument("--learners", type=int, default=300, help="synthetic learners")

    worker = action(commands, "worker", "run a work-queue worker (batch jobs) until stopped")
    _setting_flags(worker, WORK_SETTINGS)
    worker.add_argument("--once", action="store_true", help="do the work queued now, then stop")
    worker.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)

    batch = commands.add_parser("batch", help="batch files")
    batch_actions = batch.add_subparsers(dest="action", required=True)
    batch_import = action(
        batch_actions,
        "import",
        "register (FUL) or look up (CHK) the learners of a batch file on the server side "
        "and write the output file",
    )
    batch_import.add_argument(
        "file", metavar="FILE", type=Path, help="LRB_<UKPRN>_<DDMMYYYYHHMM>.CSV or .XML"
    )
    batch_import.add_argument("--out", type=Path, help="output file (default FILE.out.csv/.xml)")
    batch_import.add_argument("--job-type", choices=("FUL", "CHK"), default="FUL")
    batch_import.add_argument(
        "--user", default="miap batch import", help="recorded in the audit log"
    )
    _setting_flags(batch_import, ("match_weights", "name_variants", "work_batch_size"))
    for capability in CAPABILITY_CLIS:
        capability.add_parser(commands)
    return parser


#: The settings ``miap serve`` and ``miap demo`` take as flags (``--max-body-bytes`` …).
SERVE_SETTINGS = (
    "host",
    "port",
    "workers",
    "threads",
    "max_body_bytes",
    "validate_responses",
    "auth_cache_seconds",
    "public_url",
    "match_weights",
    "name_variants",
    "ukrlp_max_records",
    "portal_idle_minutes",
    "portal_session_hours",
)


#: The settings ``miap worker`` takes as flags.
WORK_SETTINGS = (
    "sif_push_timeout",
    "sif_backoff_first",
    "sif_backoff_max",
    "sif_max_failures",
    "work_threads",
    "work_batch_size",
    "work_lease_seconds",
    "work_poll_seconds",
    "work_retention_days",
    "match_weights",
    "name_variants",
)


def _setting_flags(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    """One flag per setting; unset flags stay None so the environment and defaults apply."""
    by_name = {f.name: f for f in dataclasses.fields(Settings)}
    for name in names:
        setting = by_name[name]
        flag = "--" + name.replace("_", "-")
        text = f"{setting.metadata['help']} (${env_name(name)}; default {setting.default})"
        if setting.type == "bool":
            parser.add_argument(flag, action="store_true", default=None, help=text)
        else:
            kind = {"int": int, "float": float}.get(str(setting.type), str)
            parser.add_argument(flag, type=kind, default=None, help=text)


def settings_from(args: argparse.Namespace) -> Settings:
    """The one settings object: flags over ``MIAP_*`` environment over defaults."""
    flags = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(Settings)}
    try:
        return Settings.load(**flags)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (CliError, AdminRefusal) as exc:
        print(f"miap: error: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        print(f"miap: error: cannot use the database: {exc.orig}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"miap: error: database error: {type(exc).__name__}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    url = settings.database_url
    if args.command == "db":
        migrations.upgrade(url)
        print(f"database at revision {migrations.head_revision()}")
        return 0
    if args.command == "demo":
        _check_serving(settings)
        migrations.upgrade(url)
        db = Database(url)
        counts = demo.seed(db, count=args.learners, matcher=make_matcher(settings))
        _print_demo(settings, db, counts)
        for line in portal_demo.seed(db, demo.DEMO_UKPRN, _portal_url(settings)):
            print(line)
        db.dispose()
        return _serve(settings)
    if args.command == "synth":
        return _synth(args, url)
    if args.command == "serve":
        return _serve(settings)
    _require_existing(url)
    for capability in CAPABILITY_CLIS:
        if args.command in capability.COMMANDS:
            _require_schema(Database(url))
            return capability.run(args, settings)
    if args.command == "worker":
        return _worker(args, settings)
    if args.command == "batch":
        return _batch_import(args, settings)
    return _learner(args, url)


def _require_existing(url: str) -> None:
    """Refuse before connecting when a SQLite file is missing: connecting would create an
    empty file that every later command then reads as "not migrated"."""
    parsed = make_url(sqlalchemy_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).exists():
            raise CliError(
                f"no database at {parsed.database}: run `miap db upgrade --db {url}` first"
            )


def _synth(args: argparse.Namespace, url: str) -> int:
    if args.count < 1 or args.queries < 0:
        raise CliError("--count must be at least 1 and --queries not negative")
    if args.queries and not args.out:
        raise CliError("--queries needs --out DIR (people.csv and queries.csv are written there)")
    population = synth.Population(args.seed)
    people = list(population.people(args.count))
    if args.load:
        _require_existing(url)
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


def _check_serving(settings: Settings) -> None:
    if settings.workers < 1 or settings.threads < 1:
        raise CliError("--workers and --threads must be at least 1")
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.host, settings.port))
        except OSError as exc:
            raise CliError(
                f"cannot listen on {settings.host}:{settings.port}: {exc.strerror} "
                "(is another server running? choose another --port)"
            ) from None


def _serve(settings: Settings) -> int:
    _check_serving(settings)
    _require_existing(settings.database_url)
    check = Database(settings.database_url)
    _require_schema(check)
    check.dispose()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    print(f"miap: serving {_service_url(settings)}?wsdl", flush=True)
    worker = _start_worker(settings) if settings.serve_worker else None
    try:
        serve(
            lambda: make_app(settings),
            settings.host,
            settings.port,
            workers=settings.workers,
            threads=settings.threads,
        )
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
    return 0


def _start_worker(settings: Settings) -> subprocess.Popen:
    """``miap worker`` beside the server: its own process (one on SQLite), given the same
    settings, that stops when the server does (or when it finds the server gone)."""
    environ = dict(os.environ)
    for name in ("database_url", *WORK_SETTINGS):
        value = getattr(settings, name)
        if value is not None:
            environ[env_name(name)] = str(value)
    command = [sys.executable, "-m", "miap.server.admin.cli", "worker"]
    return subprocess.Popen([*command, "--parent-pid", str(os.getpid())], env=environ)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    db = Database(settings.database_url)
    _require_schema(db)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    worker = make_worker(settings, db)
    if args.once:
        done = worker.drain()
        print(f"miap: worker did {done} items", file=sys.stderr)
        return 0
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid, stop), daemon=True).start()
    threads = 1 if db.dialect == "sqlite" else max(1, settings.work_threads)
    print(f"miap: worker {worker.name} ({threads} threads) on {db.dialect}", flush=True)
    worker.run(stop, threads)
    db.dispose()
    return 0


def _watch_parent(parent: int, stop: threading.Event) -> None:
    """Stop when the process that started us is gone (it was killed without stopping us)."""
    while not stop.wait(1.0):
        if os.getppid() != parent:
            stop.set()


def _batch_import(args: argparse.Namespace, settings: Settings) -> int:
    """Queue the file's learners as one job, work the queue here until the job is done (other
    workers may share it), then write the output file as ``miap-client batch submit`` does."""
    import time

    from sqlalchemy import select
    from tqdm import tqdm

    from miap.client import batchfile
    from miap.server.batches import jobs
    from miap.server.soap.batch_service import return_code
    from miap.server.work import queue
    from miap.storage.models import Provider

    try:
        batch = batchfile.read(args.file)
    except batchfile.BatchFileError as exc:
        raise CliError(str(exc)) from None
    db = Database(settings.database_url)
    _require_schema(db)
    learners = [row.learner for row in batch.sendable]
    with db.transaction() as session:
        known = select(Provider.id).where(Provider.ukprn == batch.ukprn)
        if session.scalar(known) is None:
            raise CliError(f"UKPRN {batch.ukprn} (from the file name) is not a registered provider")
        job_id = jobs.submit_registration(
            session, batch.ukprn, args.user, args.job_type, len(learners), learners, "batchImport"
        )
    print(f"miap: job {job_id}: {len(learners)} learners queued", file=sys.stderr)
    worker = make_worker(settings, db)
    with tqdm(total=len(learners), unit="learner", file=sys.stderr) as bar:
        while True:
            claimed = worker.run_once()
            with db.reading() as session:
                progress = queue.progress(session, job_id)
            bar.update(progress.done - bar.n)
            if progress.state == "finished":
                break
            if not claimed:
                time.sleep(settings.work_poll_seconds)  # another worker holds the rest
    with db.reading() as session:
        output = jobs.output(session, batch.ukprn, job_id, jobs.REGISTER)
    sent = [
        batchfile.Answer(
            result.uln,
            return_code(result),
            str(result.refusal) if result.refusal is not None else None,
        )
        for _, result in output.learners
    ]
    out = args.out or batchfile.default_output(args.file)
    batchfile.write_output(batch, batchfile.answers_for(batch, sent), out)
    db.dispose()
    # Reasons quote the learners' own values (a date of birth, a name): they go to the output
    # file beside the row, never to stderr, which cron jobs keep as a log.
    rejected = [str(row.line) for row in batch.rows if row.error]
    if rejected:
        print(
            f"{batch.path.name}: rows on lines {', '.join(rejected)} rejected "
            f"(reasons in {out.name}, column ReturnReason)",
            file=sys.stderr,
        )
    counts = ", ".join(
        f"{output.counts[name]} {name.replace('_', ' ')}" for name in jobs.CATEGORIES
    )
    malformed = len(batch.rows) - len(learners)
    print(
        f"miap: job {job_id}: {counts} (+{malformed} malformed rows); wrote {out}", file=sys.stderr
    )
    return 0


def _service_url(settings: Settings) -> str:
    return settings.public_url or f"http://{settings.host}:{settings.port}{SERVICE_PATH}"


def _portal_url(settings: Settings) -> str:
    """Where the server is, for the portal's links (its public URL without the service path)."""
    service = _service_url(settings)
    return service[: -len(SERVICE_PATH)] if service.endswith(SERVICE_PATH) else service


def _print_demo(settings: Settings, db: Database, counts: dict[str, int]) -> None:
    """What to paste into another shell: the client next to this interpreter (so no venv
    needs activating) and the credentials in the environment, not on the command line."""
    client = Path(sys.executable).with_name("miap-client")
    print(f"demo data: {counts['learners_added']} synthetic learners added")
    print(f"WSDL:         {_service_url(settings)}?wsdl")
    print(f"UKPRN:        {demo.DEMO_UKPRN}")
    print(f"OrgPassword:  {demo.DEMO_PASSWORD}")
    print(f"UserName:     {demo.DEMO_USER} (any name; it is recorded in the audit log)")
    print("Try, in another shell:")
    print(
        f"  export MIAP_URL={_service_url(settings)} MIAP_UKPRN={demo.DEMO_UKPRN} "
        f"MIAP_PASSWORD={demo.DEMO_PASSWORD}"
    )
    for learner in demo.example_learners(db, 1):
        print(
            f"  {shlex.quote(str(client))} find-uln {learner.uln} "
            f"--given {shlex.quote(learner.given_name)} --family {shlex.quote(learner.family_name)}"
        )
        print(
            f"  {shlex.quote(str(client))} find --given {shlex.quote(learner.given_name)} "
            f"--family {shlex.quote(learner.family_name)} --dob {learner.date_of_birth} "
            f"--gender {learner.gender} --postcode {shlex.quote(learner.postcode)}"
        )


if __name__ == "__main__":
    sys.exit(main())
