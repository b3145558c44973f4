"""Time ``miap records load`` on synthetic ILR returns and results CSVs.

    python bench/records_load.py --postgres --events 1000000      # the targets' scale
    python bench/records_load.py --events 20000                   # SQLite, a quick check

A fresh database (PostgreSQL with ``--postgres``, else SQLite; or ``--db``) is seeded with
``events / per-learner`` synthetic learners (``bench/seed.py``, not timed); one ILR XML return
(2019-20) and one AO results CSV of ``events`` events each are written for them (not timed).
Each file is loaded (every event new), then loaded again (every event unchanged: the file is
the last one loaded for its scope, so it is not read again), then again with ``--reread``
(read and settled in full), each by a real ``miap records load`` process; its wall time,
events per second, the ratio to the target (load 20,000 events/s, reload 50,000 events/s, on
PostgreSQL) and the child's peak RSS are printed, with the load's own summary line (its own
seconds leave out the process's start, which on a small file is most of the wall time). Only
synthetic learners. The machine is shared:
note ``uptime``'s load average with each figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import seed as seeding  # noqa: E402
from bench.processes import timed_miap, yardstick  # noqa: E402
from miap.server.records import synthetic  # noqa: E402
from miap.storage import migrations  # noqa: E402
from miap.storage.engine import Database  # noqa: E402
from miap.storage.models import Learner  # noqa: E402

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
LOAD_TARGET = 20_000
RELOAD_TARGET = 50_000
#: Each file is loaded (every event new), loaded again (the last return of its scope, so not
#: read again), and loaded again with ``--reread`` (read and settled: every event unchanged).
RUNS = (
    ("load", LOAD_TARGET, ()),
    ("reload", RELOAD_TARGET, ()),
    ("reload --reread", RELOAD_TARGET, ("--reread",)),
)
COLLEGE = "10000002"
AWARDING_BODY = "10000123"


def seeded_ulns(url: str, learners: int) -> list[str]:
    seeded = seeding.seed(url, learners, seed=1, progress=False)
    print(f"seeded {learners:,} learners in {seeded.seconds:.1f} s (not timed)", flush=True)
    db = Database(url)
    try:
        with db.engine.connect() as connection:
            return list(connection.scalars(select(Learner.uln).order_by(Learner.id)))
    finally:
        db.dispose()


def write_files(folder: Path, ulns: list[str], per_learner: int) -> dict[str, tuple[Path, list]]:
    """The ILR return and the results CSV, with the ``records load`` arguments of each."""
    started = time.perf_counter()
    prepared = dt.datetime(2020, 3, 1, 12, 0, 0)
    ilr = folder / synthetic.file_name(COLLEGE, "1920", prepared, 1)
    with ilr.open("wb") as out:
        synthetic.write_ilr(
            out,
            synthetic.learners(ulns, "1920", per_learner),
            ukprn=COLLEGE,
            serial=1,
            prepared=prepared,
        )
    results = folder / "ao-results.csv"
    with results.open("w", newline="", encoding="utf-8") as out:
        synthetic.write_results(out, synthetic.result_rows(ulns, AWARDING_BODY, per_learner))
    print(f"wrote the files in {time.perf_counter() - started:.1f} s (not timed)", flush=True)
    return {
        "ILR": (ilr, ["--source", "ILR"]),
        "CSV": (
            results,
            ["--source", "AO", "--provider", AWARDING_BODY, "--collection", "2025-summer"],
        ),
    }


def timed_load(url: str, path: Path, extra: list[str]) -> tuple[float, float, str]:
    """Seconds, peak RSS in MiB (of the largest child so far), and the load's summary."""
    return timed_miap(
        "records", "load", str(path), *extra, "--db", url, "--no-progress",
        "--rejects", str(path) + ".rejects.csv",
    )  # fmt: skip


def database(stack: ExitStack, args: argparse.Namespace, folder: Path) -> str:
    if args.db:
        return args.db
    if args.postgres:
        from tests.support import postgres_database

        return stack.enter_context(postgres_database(args.admin_url, "miap_bench_records"))
    return f"sqlite:///{folder / 'records.db'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per file")
    parser.add_argument("--per-learner", type=int, default=2, help="events per learner")
    parser.add_argument("--db", help="a migrated or empty database to use")
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument("--admin-url", default=POSTGRES_ADMIN_URL)
    parser.add_argument("--format", action="append", choices=("ILR", "CSV"), default=None)
    args = parser.parse_args(argv)
    if args.events < args.per_learner or args.per_learner < 1:
        parser.error("--events must be at least --per-learner, which must be at least 1")
    formats = args.format or ["ILR", "CSV"]
    print(yardstick(), flush=True)
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        folder = Path(name)
        url = database(stack, args, folder)
        migrations.upgrade(url)
        ulns = seeded_ulns(url, args.events // args.per_learner)
        files = write_files(folder, ulns, args.per_learner)
        events = len(ulns) * args.per_learner
        for kind in formats:
            path, extra = files[kind]
            size = path.stat().st_size / 1024 / 1024
            for label, target, flags in RUNS:
                seconds, rss, line = timed_load(url, path, [*extra, *flags])
                rate = events / seconds
                inside = float(re.search(r" in ([0-9.]+) s", line).group(1))
                print(
                    f"{kind} {label} ({size:,.0f} MiB): {seconds:.1f} s, {rate:,.0f} events/s "
                    f"({rate / target:.2f} x the {target:,}/s target; the load itself, "
                    f"without starting the process: {events / inside:,.0f} events/s), "
                    f"peak RSS {rss:.0f} MiB\n  " + line.replace("\n", "\n  "),
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
