"""Seconds per analysts' query (``miap analyse``) over generated data.

    python bench/analysis_queries.py                        # 1,000,000 learners, ~5,000,000 events
    python bench/analysis_queries.py --learners 20000 --backends sqlite        # quick

For each backend: a fresh database (bench/lookup_throughput.py's harness), ``miap db
upgrade``, then ``--learners`` synthetic learners with about ``--events-per-learner`` learning
events each, 30% of them census pupils (and some never-linked census rows), 1% merged into
another (``miap.server.analysis.synthetic.populate``; its rows per second are reported). The
planner's statistics are refreshed (ANALYZE), then every query runs ``--repeat`` times in
process: the time of the set-based statement with disclosure control (``query``), and of
writing its CSV and chart (``output``). The best of the repeats is reported, printed and
written as JSON to bench/results/. The target is 30 s per query at full size on PostgreSQL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.lookup_throughput import fresh_database  # noqa: E402
from miap.server.analysis import output, queries  # noqa: E402
from miap.server.analysis.synthetic import populate  # noqa: E402
from miap.storage.engine import Database  # noqa: E402
from tests.support import run_miap  # noqa: E402

RESULTS = REPO / "bench" / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, default=1_000_000)
    parser.add_argument("--events-per-learner", type=float, default=5.0)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="analysis-bench-"))
    rows = []
    loads = {}
    for backend in args.backends.split(","):
        with fresh_database(backend, workdir, args.keep) as url:
            run_miap("db", "upgrade", "--db", url)
            db = Database(url)
            try:
                started = time.perf_counter()
                made = populate(db, args.learners, args.events_per_learner, seed=args.seed)
                seconds = time.perf_counter() - started
                loads[backend] = {**vars(made), "seconds": round(seconds, 1)}
                print(f"{backend}: {made} in {seconds:.1f} s", flush=True)
                with db.engine.begin() as connection:
                    connection.exec_driver_sql("ANALYZE")
                for name in queries.QUERIES:
                    best_query = best_output = float("inf")
                    for _ in range(args.repeat):
                        started = time.perf_counter()
                        with db.reading() as session:
                            result = queries.run(session, name)
                        query_seconds = time.perf_counter() - started
                        started = time.perf_counter()
                        output.write_csv(result, workdir / f"{name}.csv")
                        output.write_chart(result, workdir / f"{name}.png")
                        best_query = min(best_query, query_seconds)
                        best_output = min(best_output, time.perf_counter() - started)
                    rows.append(
                        {
                            "backend": backend,
                            "learners": made.learners,
                            "events": made.events,
                            "query": name,
                            "query_seconds": round(best_query, 2),
                            "output_seconds": round(best_output, 2),
                            "table_rows": len(result.table.rows),
                        }
                    )
                    print(
                        f"  {name:<13} query {best_query:7.2f} s  output {best_output:6.2f} s"
                        f"  ({len(result.table.rows)} rows)",
                        flush=True,
                    )
            finally:
                db.dispose()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"analysis_queries-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(
        json.dumps(
            {"machine": platform.platform(), "args": vars(args), "loads": loads, "queries": rows},
            indent=2,
        )
    )
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
