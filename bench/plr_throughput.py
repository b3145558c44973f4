"""GetLearnerLearningEvents (PLR) throughput over HTTP, next to learnerByULN on the same server.

    python bench/plr_throughput.py                        # both backends, 1/4/8 clients
    python bench/plr_throughput.py --backends sqlite --concurrency 1,2 --requests 60 \
        --learners 500 --subjects 5

For each backend: a fresh database with --learners synthetic learners (bench/seed.py, all
registered by the benchmark's provider and sharing their record), then --subjects of them get
--events learning events each (200 by default, inserted through the records model). One
``miap serve --workers N`` (response validation off) serves both services, and the
measurements run interleaved in rounds with bench/lookup_throughput.py's harness:

  GetLearnerLearningEvents   a subject's ULN, names, date of birth and gender, getType FULL:
                             expects WSRC0004 and all --events events
  learnerByULN               the same learners on the LearnerService: expects WSRC0004

The table, and the ratio of the PLR's throughput to learnerByULN's per concurrency level, are
printed and written as JSON to bench/results/. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from xml.sax.saxutils import escape

import requests
from sqlalchemy import insert

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.lookup_throughput import (  # noqa: E402
    PASSWORD,
    RESULTS,
    UKPRN,
    Person,
    Target,
    check_found,
    code_version,
    fresh,
    fresh_database,
    measure_interleaved,
    measurement,
    prepare,
    sample_people,
    table,
    uln_request,
    warm_up,
)
from miap.server.namespaces import PLR_INTERFACE, TEMPURI  # noqa: E402
from miap.storage.engine import Database  # noqa: E402
from miap.storage.records import LearningEvent  # noqa: E402
from tests.support import envelope, start_server  # noqa: E402

PLR_PATH = "/LearnerServiceR9.svc"
OPERATION = "GetLearnerLearningEvents"


def plr_request(p: Person) -> bytes:
    return envelope(
        f'<t:{OPERATION} xmlns:t="{TEMPURI}" xmlns:a="{PLR_INTERFACE}">'
        f"<t:invokingOrganisation><a:Password>{PASSWORD}</a:Password><a:Ukprn>{UKPRN}</a:Ukprn>"
        "<a:Username>bench.user</a:Username></t:invokingOrganisation>"
        "<t:userType>ORG</t:userType><t:vendorID>1</t:vendorID><t:language>ENG</t:language>"
        f"<t:uln>{p.uln}</t:uln><t:givenName>{escape(p.given_name)}</t:givenName>"
        f"<t:familyName>{escape(p.family_name)}</t:familyName>"
        f"<t:dateOfBirth>{p.date_of_birth.isoformat()}</t:dateOfBirth>"
        f"<t:gender>{p.gender}</t:gender><t:getType>FULL</t:getType></t:{OPERATION}>"
    )


def plr_check(events: int):  # noqa: ANN201 - a Check
    def check(p: Person, response: requests.Response) -> str | None:
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        if b"<a:ResponseCode>WSRC0004</a:ResponseCode>" not in response.content:
            return "not WSRC0004"
        found = response.content.count(b"<a:LearningEvent>")
        return None if found == events else f"{found} events"

    return check


def add_events(url: str, people: list[Person], per_learner: int) -> None:
    """``per_learner`` ILR events for each of ``people``, returned by the benchmark provider."""
    db = Database(url)
    loaded = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    try:
        with db.transaction() as session:
            for person in people:
                rows = []
                for number in range(per_learner):
                    key = f"{person.uln}-{number}"
                    rows.append(
                        {
                            "uln": person.uln,
                            "source": "ILR",
                            "provider_ukprn": UKPRN,
                            "collection": "2526",
                            "source_event_id": key,
                            "return_key": "2526-01",
                            "digest": hashlib.sha256(key.encode()).hexdigest()[:32],
                            "achievement_provider_ukprn": UKPRN,
                            "subject": f"Subject {number}",
                            "subject_code": f"S{number:05d}",
                            "qualification_type": "GCSE",
                            "level": "2",
                            "grade": "B",
                            "credits": 12,
                            "collection_type": "A",
                            "participation_start_date": dt.date(2020, 9, 1)
                            + dt.timedelta(days=number),
                            "participation_end_date": dt.date(2021, 7, 1),
                            "status": "Achieved",
                            "under_data_challenge": "N",
                            "loaded_at": loaded,
                        }
                    )
                session.execute(insert(LearningEvent), rows)
    finally:
        db.dispose()


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--learners", type=int, default=10000, help="register size")
    parser.add_argument("--subjects", type=int, default=50, help="learners given events")
    parser.add_argument("--events", type=int, default=200, help="events per subject")
    parser.add_argument("--requests", type=int, default=600, help="per measurement and level")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", default="1,4,8", help="client threads, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",")]
    args.concurrency = [int(c) for c in str(args.concurrency).split(",")]
    if unknown := set(args.backends) - {"sqlite", "postgresql"}:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    if min(*args.concurrency, args.requests, args.rounds, args.workers, args.subjects) < 1:
        parser.error("--requests, --rounds, --workers, --subjects and --concurrency must be >= 1")
    if args.subjects > args.learners:
        parser.error("--subjects cannot exceed --learners")
    return args


def run(args: argparse.Namespace, workdir: Path) -> list[tuple[int, Target]]:
    rng = random.Random(args.seed)
    measured: list[tuple[int, Target]] = []
    with ExitStack() as stack:
        targets = []
        for backend in args.backends:
            print(f"{backend}: {args.learners:,} learners", flush=True)
            url = stack.enter_context(fresh_database(backend, workdir, keep=False))
            prepare(url, args.learners, args.seed)
            subjects = sample_people(url, args.subjects, rng)
            add_events(url, subjects, args.events)
            print(f"  {args.subjects} learners with {args.events} events each", flush=True)
            server = stack.enter_context(
                start_server(url, workdir, "--workers", str(args.workers), validate=False)
            )
            plr_url = server.url.replace("/LearnerService.svc", PLR_PATH)
            people = [rng.choice(subjects) for _ in range(args.requests)]
            warm = subjects[: args.warmup]
            targets += [
                Target(
                    backend, args.learners, OPERATION, plr_url, plr_request,
                    plr_check(args.events), warm, people,
                ),
                Target(
                    backend, args.learners, "learnerByULN", server.url, uln_request,
                    check_found, warm, people,
                ),
            ]  # fmt: skip
        for target in targets:
            warm_up(target)
        for level in args.concurrency:
            print(f"measuring with {level} clients in {args.rounds} rounds", flush=True)
            at_level = [fresh(target) for target in targets]
            measure_interleaved(at_level, args.rounds, level)
            measured += [(level, target) for target in at_level]
    return measured


def ratios(measurements: list) -> list[dict]:
    """Per backend and level: GetLearnerLearningEvents req/s over learnerByULN req/s."""
    found = []
    for m in measurements:
        if m.operation != OPERATION:
            continue
        lookup = next(
            x
            for x in measurements
            if (x.backend, x.concurrency, x.operation) == (m.backend, m.concurrency, "learnerByULN")
        )
        found.append(
            {
                "backend": m.backend,
                "concurrency": m.concurrency,
                "plr_per_second": m.requests_per_second,
                "lookup_per_second": lookup.requests_per_second,
                "ratio": round(m.requests_per_second / lookup.requests_per_second, 2),
            }
        )
    return found


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    started = dt.datetime.now()
    print(
        f"miap PLR benchmark: {args.backends}, {args.learners:,} learners, {args.subjects} with "
        f"{args.events} events, {args.requests} requests per measurement, {args.workers} "
        f"workers, clients {args.concurrency}, {os.cpu_count()} CPUs",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="miap-plr-bench-"))
    try:
        targets = run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    measurements = [measurement(target, level) for level, target in targets]
    found = ratios(measurements)
    print()
    print(table(measurements))
    print(f"\n{OPERATION} ({args.events} events) / learnerByULN throughput, same server:")
    for r in found:
        print(
            f"  {r['concurrency']:>3} clients  {r['backend']:<10} {r['plr_per_second']:>8.1f} "
            f"/ {r['lookup_per_second']:>8.1f} req/s = {r['ratio']:.2f}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"plr_throughput-{started:%Y%m%d-%H%M%S}.json"
    report = {
        "started": started.isoformat(timespec="seconds"),
        "settings": vars(args),
        "code": code_version(),
        "cpus": os.cpu_count(),
        "measurements": [asdict(m) for m in measurements],
        "ratios": found,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
