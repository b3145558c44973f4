"""learnerByDemographics server-side latency and throughput at 100k and 1M learners.

    python bench/match_speed.py                       # 100k and 1M, SQLite and PostgreSQL
    python bench/match_speed.py --sizes 100000 --backends sqlite --queries 500

"In-process": each search goes through the whole server — envelope parsing, schema validation,
(cached) authentication, the matching engine, the audit entry, the response — by calling the
WSGI application directly, so no HTTP client or socket is timed. The searches are the noisy
stream of bench/match_quality.py (one error each, 10% two, 10% not registered), so they exercise
every blocking path. The engine alone (``ScoringMatcher.find`` in a transaction) is timed too.
Figures are printed and written to bench/results/match_speed.json; nothing is asserted.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.lookup_throughput import (  # noqa: E402
    RESULTS,
    demographics_request,
    fresh_database,
    prepare,
)
from miap.server.admin.synth import Population, demographics, noisy_queries  # noqa: E402
from miap.server.matching.engine import ScoringMatcher  # noqa: E402
from miap.server.matching.normalise import default_variants  # noqa: E402
from miap.server.services import Services  # noqa: E402
from miap.server.settings import Settings  # noqa: E402
from miap.server.soap.endpoint import LearnerServiceApp  # noqa: E402
from miap.storage.engine import Database  # noqa: E402


def call(app: LearnerServiceApp, body: bytes) -> bytes:
    """One POST through the WSGI application, in this process."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/LearnerService.svc",
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "0",
    }
    status = []
    answer = b"".join(app(environ, lambda s, _headers: status.append(s)))
    if not status[0].startswith("200"):
        raise RuntimeError(f"{status[0]}: {answer[:300]!r}")
    return answer


def figures(seconds: list[float]) -> dict:
    ordered = sorted(seconds)
    return {
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "mean_ms": 1000 * statistics.fmean(ordered),
        "per_second": len(ordered) / sum(ordered),
    }


def measure(url: str, size: int, seed: int, queries: int) -> dict:
    people = list(Population(seed).people(size))
    stream = list(noisy_queries(Population(seed + 2000), people, queries, default_variants()))
    db = Database(url)
    app = LearnerServiceApp(Services.start(db, Settings()))
    bodies = [demographics_request(q.person) for q in stream]
    for body in bodies[:50]:  # warm caches, the credential cache and the statement cache
        call(app, body)
    server = []
    for body in bodies:
        started = time.perf_counter()
        call(app, body)
        server.append(time.perf_counter() - started)
    matcher = ScoringMatcher()
    engine = []
    with db.transaction() as session:
        for query in stream:
            started = time.perf_counter()
            matcher.find(session, demographics(query.person))
            engine.append(time.perf_counter() - started)
    db.dispose()
    return {"server": figures(server), "engine": figures(engine)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    results = []
    for backend in args.backends.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            print(f"{backend}, {size:,} learners:", flush=True)
            with fresh_database(backend, args.workdir, keep=False) as url:
                prepare(url, size, args.seed)
                found = measure(url, size, args.seed, args.queries)
            results.append({"backend": backend, "learners": size, **found})
            for part in ("server", "engine"):
                f = found[part]
                print(
                    f"  {part:<7} p50 {f['p50_ms']:6.2f} ms  p99 {f['p99_ms']:6.2f} ms  "
                    f"mean {f['mean_ms']:6.2f} ms  {f['per_second']:7.0f}/s (one thread)",
                    flush=True,
                )
    print("\nbackend      part     1M/100k p50   1M/100k p99")
    for backend in args.backends.split(","):
        rows = {r["learners"]: r for r in results if r["backend"] == backend}
        if len(rows) == 2:
            small, large = (rows[k] for k in sorted(rows))
            for part in ("server", "engine"):
                p50 = large[part]["p50_ms"] / small[part]["p50_ms"]
                p99 = large[part]["p99_ms"] / small[part]["p99_ms"]
                print(f"{backend:<12} {part:<8} {p50:>11.2f}x {p99:>12.2f}x")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "match_speed.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
