"""learnerByULN and learnerByDemographics throughput over HTTP, against a bare spyne echo.

    python bench/lookup_throughput.py                 # 100k learners, both backends, 4/8/16 clients
    python bench/lookup_throughput.py --backends sqlite --concurrency 4 --requests 400

For each backend and register size: a fresh database (a SQLite file in a temporary directory,
or a new PostgreSQL database dropped afterwards), ``miap db upgrade``, ``miap provider add`` and
synthetic learners bulk-loaded by bench/seed.py. Then one ``miap serve --workers N`` per database
(8 threads per worker, no response validation) and the bare spyne echo service
(bench/echo_service.py: no validation, gunicorn's default sync workers, the same N) run side by
side, and every measurement posts raw SOAP envelopes from --concurrency client threads (one
keep-alive ``requests`` session each), timing every round trip:

  echo                  the echo service, with a request of FindLearnerByULN's shape
  learnerByULN          a random stored learner's ULN with their names: expects WSRC0004
  learnerByDemographics their exact demographics: expects WSRC0004 and their ULN

For each concurrency level the measurements are interleaved: --rounds rounds, each posting a
slice of every measurement's requests in turn (the order rotating), so that a ratio compares
servers measured under the same machine load, not minutes apart. Answers are checked and
anything else is counted as unexpected. The table and the ratios (ours / echo throughput per
concurrency, and largest / smallest register latency per backend) are printed and written as
JSON to bench/results/. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import requests
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import echo_service  # noqa: E402
from bench.seed import seed  # noqa: E402
from miap.server.namespaces import FINDMSG  # noqa: E402
from miap.storage.engine import Database  # noqa: E402
from miap.storage.models import Learner  # noqa: E402
from tests.support import (  # noqa: E402
    envelope,
    free_port,
    postgres_database,
    run_miap,
    spawn,
    start_server,
)

RESULTS = REPO / "bench" / "results"
POSTGRES_ADMIN_URL = os.environ.get(
    "MIAP_BENCH_POSTGRES_URL",
    os.environ.get("MIAP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
UKPRN = "10000001"
PASSWORD = "BenchPassword001"
HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
FOUND = "WSRC0004"
_CODE = re.compile(rb"<ResponseCode>([^<]*)</ResponseCode>")
_FAULT_CODE = re.compile(rb"<ErrorCode>([^<]*)</ErrorCode>")


@dataclass(frozen=True)
class Person:
    """A stored synthetic learner, as the benchmark asks for them."""

    uln: str
    given_name: str
    family_name: str
    date_of_birth: dt.date
    gender: str
    postcode: str


@dataclass
class Measurement:
    backend: str
    learners: int | None
    operation: str
    requests: int
    concurrency: int
    seconds: float  # time spent on this measurement's requests (its slices added up)
    requests_per_second: float
    mean_ms: float
    p50_ms: float
    p99_ms: float
    unexpected: int
    outcomes: dict[str, int] = field(default_factory=dict)
    load_average: float = 0.0  # mean 1-minute load average after its slices


# -- request bodies ---------------------------------------------------------------------------

_HEADER = (
    f"<OrganisationRef/><UKPRN>{UKPRN}</UKPRN><OrgPassword>{PASSWORD}</OrgPassword>"
    "<UserName>bench.user</UserName>"
)


def uln_request(p: Person) -> bytes:
    return envelope(
        f'<fin:FindLearnerByULN xmlns:fin="{FINDMSG}"><FindType>FUL</FindType>{_HEADER}'
        f"<ULN>{p.uln}</ULN><FamilyName>{escape(p.family_name)}</FamilyName>"
        f"<GivenName>{escape(p.given_name)}</GivenName></fin:FindLearnerByULN>"
    )


def demographics_request(p: Person) -> bytes:
    return envelope(
        f'<fin:FindLearnerByDemographics xmlns:fin="{FINDMSG}"><FindType>FUL</FindType>'
        f"{_HEADER}<FamilyName>{escape(p.family_name)}</FamilyName>"
        f"<GivenName>{escape(p.given_name)}</GivenName>"
        f"<DateOfBirth>{p.date_of_birth.isoformat()}</DateOfBirth><Gender>{p.gender}</Gender>"
        f"<LastKnownPostCode>{escape(p.postcode)}</LastKnownPostCode><PreviousFamilyName/>"
        "<SchoolAtAge16/><PlaceOfBirth/><EmailAddress/></fin:FindLearnerByDemographics>"
    )


def echo_request(p: Person) -> bytes:
    return echo_service.request_xml(
        p.uln, escape(p.given_name), escape(p.family_name), UKPRN, PASSWORD
    )


# -- checking answers -------------------------------------------------------------------------

Check = Callable[[Person, requests.Response], str | None]


def _outcome(response: requests.Response) -> str:
    if response.status_code != 200:
        fault = _FAULT_CODE.search(response.content)
        return f"HTTP {response.status_code} {fault.group(1).decode() if fault else ''}".strip()
    code = _CODE.search(response.content)
    return code.group(1).decode() if code else "no ResponseCode"


def check_found(p: Person, response: requests.Response) -> str | None:
    """None when the answer is WSRC0004 with this learner's ULN, else what it was."""
    outcome = _outcome(response)
    if outcome != FOUND:
        return outcome
    if f"<ULN>{p.uln}</ULN>".encode() not in response.content:
        return f"{FOUND} without ULN {p.uln}"
    return None


def check_echo(p: Person, response: requests.Response) -> str | None:
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    if f"<tns:ULN>{p.uln}</tns:ULN>".encode() not in response.content:
        return "echo without the ULN"
    return None


# -- measuring --------------------------------------------------------------------------------


@dataclass
class Target:
    """One measurement: an operation on one server, over its own sample of learners."""

    backend: str
    learners: int | None
    operation: str
    url: str
    build: Callable[[Person], bytes]
    check: Check
    warm: list[Person]
    people: list[Person]
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    loads: list[float] = field(default_factory=list)


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _worker(
    url: str,
    work: list[tuple[Person, bytes]],
    check: Check,
    latencies: list[float],
    outcomes: Counter,
) -> None:
    with requests.Session() as session:
        for person, body in work:
            started = time.perf_counter()
            response = session.post(url, data=body, headers=HEADERS, timeout=60)
            latencies.append(time.perf_counter() - started)
            problem = check(person, response)
            outcomes[problem or "expected"] += 1


def run_slice(target: Target, people: list[Person], concurrency: int) -> None:
    """Post one request per person (bodies built beforehand), timing each round trip."""
    work = [(p, target.build(p)) for p in people]
    shares = [work[i::concurrency] for i in range(concurrency)]
    latencies: list[list[float]] = [[] for _ in shares]
    outcomes: list[Counter] = [Counter() for _ in shares]
    threads = [
        threading.Thread(target=_worker, args=(target.url, share, target.check, lat, out))
        for share, lat, out in zip(shares, latencies, outcomes, strict=True)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    target.seconds += time.perf_counter() - started
    done = [t for share in latencies for t in share]
    if len(done) != len(work):
        raise RuntimeError(f"{target.operation}: {len(work) - len(done)} requests did not finish")
    target.latencies.extend(done)
    target.outcomes.update(sum(outcomes, Counter()))
    target.loads.append(os.getloadavg()[0])


def measure_interleaved(targets: list[Target], rounds: int, concurrency: int) -> None:
    """Every target's requests in ``rounds`` slices, the targets taking turns in each round."""
    for number in range(rounds):
        turn = number % len(targets)
        for target in targets[turn:] + targets[:turn]:
            size = math.ceil(len(target.people) / rounds)
            run_slice(target, target.people[number * size : (number + 1) * size], concurrency)
        print(f"  round {number + 1}/{rounds} done", flush=True)


def warm_up(target: Target) -> None:
    with requests.Session() as session:
        for person in target.warm:
            session.post(target.url, data=target.build(person), headers=HEADERS, timeout=60)


def fresh(target: Target) -> Target:
    """The same measurement with nothing measured yet (one per concurrency level)."""
    return Target(
        target.backend,
        target.learners,
        target.operation,
        target.url,
        target.build,
        target.check,
        target.warm,
        target.people,
    )


def measurement(target: Target, concurrency: int) -> Measurement:
    ordered = sorted(t * 1000 for t in target.latencies)
    return Measurement(
        backend=target.backend,
        learners=target.learners,
        operation=target.operation,
        requests=len(ordered),
        concurrency=concurrency,
        seconds=round(target.seconds, 3),
        requests_per_second=round(len(ordered) / target.seconds, 1),
        mean_ms=round(statistics.fmean(ordered), 3),
        p50_ms=round(_percentile(ordered, 0.50), 3),
        p99_ms=round(_percentile(ordered, 0.99), 3),
        unexpected=len(ordered) - target.outcomes["expected"],
        outcomes=dict(target.outcomes),
        load_average=round(statistics.fmean(target.loads), 2),
    )


# -- databases --------------------------------------------------------------------------------


@contextmanager
def fresh_database(backend: str, workdir: Path, keep: bool) -> Iterator[str]:
    """An empty database URL; removed afterwards unless ``keep``."""
    if backend == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="db-", dir=workdir))
        try:
            yield f"sqlite:///{directory / 'miap.db'}"
        finally:
            if not keep:
                shutil.rmtree(directory, ignore_errors=True)
        return
    with postgres_database(POSTGRES_ADMIN_URL, "miap_bench", keep) as url:
        yield url


def database_bytes(url: str) -> int | None:
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    db = Database(url)
    try:
        with db.engine.connect() as connection:
            size = connection.exec_driver_sql("SELECT pg_database_size(current_database())")
            return size.scalar()
    finally:
        db.dispose()


def sample_people(url: str, count: int, rng: random.Random) -> list[Person]:
    """``count`` distinct stored learners drawn at random (ids are dense in a fresh register)."""
    db = Database(url)
    try:
        with db.engine.connect() as connection:
            low, high = connection.execute(select(func.min(Learner.id), func.max(Learner.id))).one()
            ids = rng.sample(range(low, high + 1), min(count, high - low + 1))
            people: dict[int, Person] = {}
            for start in range(0, len(ids), 5000):
                rows = connection.execute(
                    select(
                        Learner.id,
                        Learner.uln,
                        Learner.given_name,
                        Learner.family_name,
                        Learner.date_of_birth,
                        Learner.gender,
                        Learner.postcode,
                    ).where(Learner.id.in_(ids[start : start + 5000]))
                )
                for row in rows:
                    people[row.id] = Person(*tuple(row)[1:])
    finally:
        db.dispose()
    return [people[i] for i in ids if i in people]


def prepare(url: str, count: int, seed_value: int) -> float:
    """Migrate, register the benchmark's provider, seed; returns the seeding seconds."""
    run_miap("db", "upgrade", "--db", url)
    run_miap(
        "provider",
        "add",
        "--db",
        url,
        "--ukprn",
        UKPRN,
        "--name",
        "Benchmark College",
        "--org-password",
        PASSWORD,
    )
    seeded = seed(url, count, seed_value, UKPRN, progress=False)
    print(
        f"  seeded {count:,} learners in {seeded.seconds:.1f} s "
        f"({seeded.rows_per_second:,.0f} rows/s, of which indexes {seeded.index_seconds:.1f} s)",
        flush=True,
    )
    return seeded.seconds


# -- reporting --------------------------------------------------------------------------------


def _size(count: int | None) -> str:
    if count is None:
        return "-"
    if count >= 1_000_000 and count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    if count >= 1000 and count % 1000 == 0:
        return f"{count // 1000}k"
    return str(count)


def table(measurements: list[Measurement]) -> str:
    lines = [
        f"{'clients':>7} {'backend':<10} {'learners':>8}  {'operation':<22} {'req/s':>8} "
        f"{'mean ms':>8} {'p50 ms':>8} {'p99 ms':>8} {'unexpected':>10}"
    ]
    lines.append("-" * len(lines[0]))
    for m in measurements:
        lines.append(
            f"{m.concurrency:>7} {m.backend:<10} {_size(m.learners):>8}  {m.operation:<22} "
            f"{m.requests_per_second:>8.1f} {m.mean_ms:>8.2f} {m.p50_ms:>8.2f} {m.p99_ms:>8.2f} "
            f"{m.unexpected:>10}"
        )
    return "\n".join(lines)


def ratios(measurements: list[Measurement]) -> dict:
    """Per concurrency level: our throughput over the echo service's (target for
    learnerByULN: at least 0.8), and the largest register's latency over the smallest's, per
    backend and operation."""
    result: dict = {"vs_echo": [], "by_size": []}
    for level in sorted({m.concurrency for m in measurements}):
        at = [m for m in measurements if m.concurrency == level]
        echo = next((m for m in at if m.operation == "echo"), None)
        ours = {(m.backend, m.learners, m.operation): m for m in at if m.operation != "echo"}
        if echo is not None:
            for (backend, size, name), m in ours.items():
                result["vs_echo"].append(
                    {
                        "concurrency": level,
                        "backend": backend,
                        "learners": size,
                        "operation": name,
                        "throughput": round(m.requests_per_second / echo.requests_per_second, 2),
                        "p50": round(m.p50_ms / echo.p50_ms, 2),
                        "p99_ms": m.p99_ms,
                    }
                )
        for backend in dict.fromkeys(b for b, _, _ in ours):
            sizes = sorted({s for b, s, _ in ours if b == backend and s is not None})
            if len(sizes) < 2:
                continue
            for name in ("learnerByULN", "learnerByDemographics"):
                small = ours.get((backend, sizes[0], name))
                large = ours.get((backend, sizes[-1], name))
                if small and large:
                    result["by_size"].append(
                        {
                            "concurrency": level,
                            "backend": backend,
                            "operation": name,
                            "small": sizes[0],
                            "large": sizes[-1],
                            "mean": round(large.mean_ms / small.mean_ms, 2),
                            "p50": round(large.p50_ms / small.p50_ms, 2),
                            "p99": round(large.p99_ms / small.p99_ms, 2),
                        }
                    )
    return result


def print_ratios(found: dict) -> None:
    print(
        "\nours / bare spyne echo throughput (req/s ÷ echo req/s; target for learnerByULN: "
        ">= 0.8); p99 (target for learnerByDemographics at 4 clients: <= 40 ms)"
    )
    for r in found["vs_echo"]:
        print(
            f"  {r['concurrency']:>3} clients  {r['backend']:<10} {_size(r['learners']):>4}  "
            f"{r['operation']:<22} {r['throughput']:>5.2f}x   p99 {r['p99_ms']:.1f} ms"
        )
    if found["by_size"]:
        print("\nlargest / smallest register, latency (target: ~1.0, no growth with size)")
        for r in found["by_size"]:
            print(
                f"  {r['concurrency']:>3} clients  {r['backend']:<10} "
                f"{_size(r['large'])}/{_size(r['small'])}  {r['operation']:<22} "
                f"mean {r['mean']:.2f}x  p50 {r['p50']:.2f}x  p99 {r['p99']:.2f}x"
            )


def code_version() -> dict:
    """The commit measured, and how many server/storage files differed from it."""
    git = shutil.which("git")
    if git is None:
        return {}
    try:
        commit = subprocess.run(
            [git, "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        changed = subprocess.run(
            [git, "status", "--porcelain", "--", "server", "storage"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
    except OSError:
        return {}
    return {"commit": commit, "uncommitted_server_files": len(changed)}


# -- the run ----------------------------------------------------------------------------------


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="register sizes, comma-separated")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=1200, help="per measurement")
    parser.add_argument("--warmup", type=int, default=100, help="requests per measurement first")
    parser.add_argument("--rounds", type=int, default=4, help="slices the measurements alternate")
    parser.add_argument(
        "--concurrency", default="4,8,16", help="client threads, comma-separated levels"
    )
    parser.add_argument("--workers", type=int, default=2, help="server processes, both servers")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    args = parser.parse_args(argv)
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")]
    args.backends = [b.strip() for b in args.backends.split(",")]
    args.concurrency = [int(c) for c in str(args.concurrency).split(",")]
    if unknown := set(args.backends) - {"sqlite", "postgresql"}:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    if min(*args.concurrency, args.requests, args.rounds, args.workers) < 1 or args.warmup < 0:
        parser.error("--requests, --rounds, --workers and --concurrency must be at least 1")
    return args


def run(args: argparse.Namespace, workdir: Path, seeding: list[dict]) -> list[tuple[int, Target]]:
    """Prepare every database, start every server, and measure them all interleaved."""
    rng = random.Random(args.seed)
    echo_port = free_port()
    echo_url = f"http://127.0.0.1:{echo_port}{echo_service.PATH}"
    echo_command = [sys.executable, str(REPO / "bench" / "echo_service.py")]
    echo_command += ["--port", str(echo_port), "--workers", str(args.workers)]
    w = args.warmup
    with ExitStack() as stack:
        registers = []
        for backend in args.backends:
            for size in args.sizes:
                print(f"{backend}, {size:,} learners:", flush=True)
                url = stack.enter_context(fresh_database(backend, workdir, args.keep))
                seconds = prepare(url, size, args.seed)
                registers.append(
                    (backend, size, url, sample_people(url, 2 * w + args.requests, rng))
                )
                seeding.append(
                    {
                        "backend": backend,
                        "learners": size,
                        "seconds": round(seconds, 1),
                        "database_bytes": database_bytes(url),
                    }
                )
                if args.keep:
                    print(f"  keeping {url}")
        print("starting the servers", flush=True)
        stack.enter_context(spawn(echo_command, echo_url + "?wsdl", workdir / "echo.log"))
        sample = registers[0][3]
        targets = [
            Target(
                "-", None, "echo", echo_url, echo_request, check_echo, sample[:w], sample[2 * w :]
            )
        ]
        for backend, size, url, people in registers:
            server = stack.enter_context(
                start_server(url, workdir, "--workers", str(args.workers), validate=False)
            )
            for operation, build, warm in (
                ("learnerByULN", uln_request, people[:w]),
                ("learnerByDemographics", demographics_request, people[w : 2 * w]),
            ):
                measured = people[2 * w :]
                targets.append(
                    Target(backend, size, operation, server.url, build, check_found, warm, measured)
                )
        for target in targets:
            warm_up(target)
        measured: list[tuple[int, Target]] = []
        for level in args.concurrency:
            print(
                f"measuring {len(targets)} targets with {level} clients in {args.rounds} rounds",
                flush=True,
            )
            at_level = [fresh(target) for target in targets]
            measure_interleaved(at_level, args.rounds, level)
            measured += [(level, target) for target in at_level]
    return measured


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    started = dt.datetime.now()
    print(
        f"miap lookup benchmark: sizes {args.sizes}, backends {args.backends}, "
        f"{args.requests} requests per measurement in {args.rounds} rounds, "
        f"{args.workers} workers, clients {args.concurrency}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="miap-bench-"))
    seeding: list[dict] = []
    try:
        targets = run(args, workdir, seeding)
    finally:
        if args.keep:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    measurements = [measurement(target, level) for level, target in targets]
    found = ratios(measurements)
    print()
    print(table(measurements))
    print_ratios(found)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"lookup_throughput-{started:%Y%m%d-%H%M%S}.json"
    report = {
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now().isoformat(timespec="seconds"),
        "settings": vars(args),
        "code": code_version(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "seeding": seeding,
        "measurements": [asdict(m) for m in measurements],
        "ratios": found,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
