"""Time ``miap census load`` on synthetic school census extracts.

    python bench/census_load.py --postgres --count 1000000            # empty, reload, grown
    python bench/census_load.py --db sqlite:///census.db --count 100000 --scenario empty

Scenarios (each on a fresh database unless ``--db`` is given):

* ``empty``: ``count`` pupils into an empty register;
* ``reload``: the same file again for the next academic year (every UPN known: all linked);
* ``grown``: ``count`` other pupils into a register already holding ``count`` learners
  (seeded with ``bench/seed.py``, not timed).

The load runs as a real ``miap census load`` process (``python -m miap.server.admin.cli``);
its wall time and peak RSS (``getrusage`` of the child) are reported, with the load's own
line of seconds per phase (staging, preparing, settling, finishing). The synthetic file is
written first and not timed. Only synthetic pupils. The machine is shared: note ``uptime``'s
load average with each figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import seed as seeding  # noqa: E402
from bench.processes import timed_miap, yardstick  # noqa: E402
from miap.server.census import synthetic  # noqa: E402
from miap.storage import migrations  # noqa: E402

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def write_file(path: Path, count: int, seed: int, first: int) -> float:
    started = time.perf_counter()
    with path.open("w", newline="", encoding="utf-8") as out:
        synthetic.write(out, count, seed, first)
    return time.perf_counter() - started


def timed_load(url: str, path: Path, year: str) -> tuple[float, float, str]:
    """Seconds, peak RSS in MiB, and the summary line of one ``miap census load``."""
    return timed_miap(
        "census", "load", str(path), "--db", url, "--academic-year", year, "--no-progress"
    )


def fresh_database(stack: ExitStack, args: argparse.Namespace, name: str) -> str:
    if args.db:
        return args.db
    if args.postgres:
        from tests.support import postgres_database

        return stack.enter_context(postgres_database(args.admin_url, f"miap_bench_{name}"))
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    return f"sqlite:///{folder / 'census.db'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", help="use this (migrated or empty) database for every scenario")
    parser.add_argument("--postgres", action="store_true", help="fresh PostgreSQL databases")
    parser.add_argument("--admin-url", default=POSTGRES_ADMIN_URL)
    parser.add_argument(
        "--scenario", action="append", choices=("empty", "reload", "grown"), default=None
    )
    args = parser.parse_args(argv)
    scenarios = args.scenario or ["empty", "reload", "grown"]
    print(yardstick(), flush=True)
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        census = Path(folder) / "census.csv"
        written = write_file(census, args.count, args.seed, 0)
        print(f"writing {args.count:,} synthetic pupils: {written:.1f} s")
        url = fresh_database(stack, args, "a")
        migrations.upgrade(url)
        if "empty" in scenarios or "reload" in scenarios:
            seconds, rss, line = timed_load(url, census, "2026/27")
            print(f"empty register: {seconds:.1f} s, peak RSS {rss:.0f} MiB\n  {line}", flush=True)
        if "reload" in scenarios:
            seconds, rss, line = timed_load(url, census, "2027/28")
            print(
                f"reload (all known): {seconds:.1f} s, peak RSS {rss:.0f} MiB\n  {line}", flush=True
            )
        if "grown" in scenarios:
            grown = fresh_database(stack, args, "b") if not args.db else url
            migrations.upgrade(grown)
            seeded = seeding.seed(grown, args.count, seed=1, progress=False)
            print(f"seeded {args.count:,} learners in {seeded.seconds:.1f} s (not timed)")
            other = Path(folder) / "other.csv"
            write_file(other, args.count, args.seed + 1, args.count)
            seconds, rss, line = timed_load(grown, other, "2026/27")
            print(
                f"{args.count:,} new pupils into {args.count:,} learners: {seconds:.1f} s, "
                f"peak RSS {rss:.0f} MiB\n  {line}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
