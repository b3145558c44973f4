"""SOAP batch throughput end to end: a 5,000-learner batch file through
``miap-client batch submit`` against a register of ``--size`` synthetic learners.

    python bench/batch_throughput.py                          # 1,000,000 on PostgreSQL
    python bench/batch_throughput.py --size 100000 --workers 1 --keep

A fresh database (PostgreSQL at MIAP_BENCH_POSTGRES_URL, else MIAP_TEST_POSTGRES_URL, else the
local server; or ``--backend sqlite``), migrated, seeded with ``bench/seed.py``. Then
``miap serve --workers 2`` (its own queue worker plus ``--workers - 1`` standalone
``miap worker`` processes, ``--work-threads`` each) and the timed run: ``miap-client batch
submit FILE`` from start to the output file written (submission in SOAP batches of 200, the
jobs, the polling, the output). The file holds ``--known`` learners already on the register
(found, WSRC0004) and the rest new people (looked up, then registered, WSRC0005). Only
synthetic people. Prints learners/s and writes ``bench/results/batch_throughput-*.json``; it
never asserts a timing.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seed import seed  # noqa: E402
from miap.server.admin.synth import Population  # noqa: E402
from tests.support import postgres_database, run_miap, start_server  # noqa: E402

UKPRN, PASSWORD = "10000001", "BenchPassword001"
COLUMNS = ["MISIdentifier", "GivenName", "FamilyName", "DateOfBirth", "Gender", "LastKnownPostCode"]


def _row(n: int, person) -> dict[str, str]:  # noqa: ANN001
    return {
        "MISIdentifier": f"B{n:05d}",
        "GivenName": person.given_name,
        "FamilyName": person.family_name,
        "DateOfBirth": person.date_of_birth.isoformat(),
        "Gender": person.gender,
        "LastKnownPostCode": person.postcode,
    }


def write_file(folder: Path, size: int, learners: int, known: int, seed_: int) -> Path:
    """``known`` people from the seeded register (found), the rest from another seed (new)."""
    registered = Population(seed_).people(min(size, known))
    strangers = Population(seed_ + 1000).people(learners - known)
    people = [*registered, *strangers]
    stamp = dt.datetime.now().strftime("%d%m%Y%H%M")
    path = folder / f"LRB_{UKPRN}_{stamp}.CSV"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        for n, person in enumerate(people):
            writer.writerow(_row(n, person))
    return path


def _prepare(url: str, size: int, seed_: int) -> None:
    run_miap("db", "upgrade", "--db", url)
    run_miap(
        "provider", "add", "--db", url, "--ukprn", UKPRN, "--name", "Bench College",
        "--org-password", PASSWORD,
    )  # fmt: skip
    started = time.perf_counter()
    seed(url, size, seed=seed_, ukprn=UKPRN, progress=False)
    print(f"seeded {size:,} learners in {time.perf_counter() - started:.0f} s", flush=True)


def _admin_run(admin: str, sql: str, *values: object) -> list[tuple]:
    import psycopg2

    connection = psycopg2.connect(admin, connect_timeout=5)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, values or None)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def _database_exists(admin: str, name: str) -> bool:
    return bool(_admin_run(admin, "SELECT 1 FROM pg_database WHERE datname = %s", name))


def _create_seeded(admin: str, name: str, size: int, seed_: int) -> None:
    _admin_run(admin, f"CREATE DATABASE {name}")
    try:
        _prepare(f"{admin.rpartition('/')[0]}/{name}", size, seed_)
    except BaseException:
        _admin_run(admin, f"DROP DATABASE IF EXISTS {name}")
        raise


@contextmanager
def _copy_of(admin: str, template: str, keep: bool) -> Iterator[str]:
    """A new database copied from ``template`` (seconds, where seeding takes minutes)."""
    name = f"miap_bench_{uuid.uuid4().hex[:12]}"
    _admin_run(admin, f"CREATE DATABASE {name} TEMPLATE {template}")
    url = f"{admin.rpartition('/')[0]}/{name}"
    try:
        yield url
    finally:
        if not keep:
            _admin_run(
                admin,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                name,
            )
            _admin_run(admin, f"DROP DATABASE IF EXISTS {name}")


def phases(url: str, started_at: dt.datetime, ended_at: dt.datetime) -> dict[str, float]:
    """Where the run's time went, from the queue's own timestamps (UTC, this machine's clock,
    whole seconds): submit (start to the last job queued), first_taken (start to the first
    item taken up: processing overlaps submitting), processing (first item taken up to the
    last done) and fetch (last done to the output written: polling latency, the output calls,
    the file)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    try:
        with engine.connect() as connection:
            queued, first_taken, last_done = connection.execute(
                text(
                    "SELECT (SELECT max(created_at) FROM work_jobs), min(started_at), "
                    "max(done_at) FROM work_items"
                )
            ).one()
    finally:
        engine.dispose()

    def seconds(a: dt.datetime, b: dt.datetime) -> float:
        return round((b - a).total_seconds(), 2)

    return {
        "submit": seconds(started_at, queued),
        "first_taken": seconds(started_at, first_taken),
        "processing": seconds(first_taken, last_done),
        "fetch": seconds(last_done, ended_at),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="learners on the register")
    parser.add_argument("--learners", type=int, default=5000, help="learners in the file")
    parser.add_argument("--known", type=int, default=2500, help="of them already registered")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--workers", type=int, default=2, help="queue workers (processes)")
    parser.add_argument("--work-threads", type=int, default=2, help="threads per queue worker")
    parser.add_argument("--server-workers", type=int, default=2, help="miap serve --workers")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="queue items per claim (work_batch_size)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    parser.add_argument(
        "--reuse-seed",
        action="store_true",
        help="PostgreSQL: seed a template database once (kept, miap_bench_seed_SIZE_SEED) and "
        "run on a fresh copy of it",
    )
    parser.add_argument("--poll", type=float, default=0.2, help="client polling interval (s)")
    args = parser.parse_args()

    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="miap-batch-bench-"))
        admin = None
        if args.backend == "postgresql":
            admin = os.environ.get("MIAP_BENCH_POSTGRES_URL") or os.environ.get(
                "MIAP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
            )
        if admin is not None and args.reuse_seed:
            # A seeded register kept as a template; each run gets its own copy of it.
            template = f"miap_bench_seed_{args.size}_{args.seed}"
            if not _database_exists(admin, template):
                _create_seeded(admin, template, args.size, args.seed)
            url = stack.enter_context(_copy_of(admin, template, keep=args.keep))
        else:
            if admin is not None:
                url = stack.enter_context(postgres_database(admin, "miap_bench", keep=args.keep))
            else:
                url = f"sqlite:///{work / 'bench.db'}"
            _prepare(url, args.size, args.seed)
        path = write_file(work, args.size, args.learners, args.known, args.seed)

        os.environ["MIAP_WORK_THREADS"] = str(args.work_threads)
        if args.batch_size:
            os.environ["MIAP_WORK_BATCH_SIZE"] = str(args.batch_size)
        server = stack.enter_context(
            start_server(url, work, "--workers", str(args.server_workers), validate=False)
        )
        extra = []
        for n in range(args.workers - 1):
            log = stack.enter_context((work / f"worker-{n}.log").open("wb"))
            command = [sys.executable, "-m", "miap.server.admin.cli", "worker", "--db", url]
            extra.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        stack.callback(lambda: [p.terminate() for p in extra])
        time.sleep(1.0)  # the workers connect

        environ = {**os.environ, "MIAP_URL": server.url, "MIAP_UKPRN": UKPRN}
        environ["MIAP_PASSWORD"] = PASSWORD
        command = [sys.executable, "-m", "miap.client", "--json", "batch", "submit", str(path)]
        started_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        started = time.perf_counter()
        result = subprocess.run(
            command + ["--no-progress", "--poll", str(args.poll)],
            capture_output=True,
            text=True,
            env=environ,
        )
        elapsed = time.perf_counter() - started
        ended_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            return 1
        with path.with_name(path.stem + ".out.csv").open(encoding="utf-8") as out:
            codes = Counter(row["ReturnCode"] for row in csv.DictReader(out))
        rate = args.learners / elapsed
        figures = {
            "command": " ".join(["python", "bench/batch_throughput.py", *sys.argv[1:]]),
            "when": dt.datetime.now().isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "settings": vars(args),
            "learners": args.learners,
            "seconds": round(elapsed, 2),
            "learners_per_second": round(rate),
            "phases_seconds": phases(url, started_at, ended_at) if admin else None,
            "return_codes": dict(codes),
        }
        print(json.dumps(figures, indent=2))
        results = ROOT / "bench" / "results"
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        (results / f"batch_throughput-{stamp}.json").write_text(
            json.dumps(figures, indent=2) + "\n"
        )
        if args.keep:
            print(f"kept {work} and {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
